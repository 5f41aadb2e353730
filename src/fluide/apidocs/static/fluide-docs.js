/* Fluide Connect playground: Swagger UI set up for the Fluide header contract.
 *
 * - API-key fields start with the scheme's `x-default` (fl_dev_your_key, fluide-developer)
 *   and stay editable, so the placeholder key can simply be replaced.
 * - Authorizations persist across reloads, except the API secret, which is never stored.
 * - The dashboard's "Try it" hands over {bearer, apiKey, clientId, acting} once through
 *   sessionStorage["fluide.playground"]; it is applied and removed on load.
 * - Acting for a client company (a partner's "Try it" on a company page, DESIGN §3.7): the
 *   pick {workspaceId, companyId, companyName} is kept in sessionStorage["fluide.acting"] (ids,
 *   no secret) and shown in a bar with "Stop acting"; while it is set, every request to an
 *   operation that declares X-Acting-Company-Id carries X-Workspace-Id and X-Acting-Company-Id,
 *   unless the operation's own fields set either header.
 */
(function () {
  "use strict";

  var HANDOFF_KEY = "fluide.playground";
  var STORE_KEY = "authorized";
  var root = document.getElementById("swagger-ui");
  var specUrl = root.getAttribute("data-openapi-url") || "/openapi.json";
  var sensitive = {};

  function scrubStoredSecrets() {
    try {
      var raw = window.localStorage.getItem(STORE_KEY);
      if (!raw) return;
      var stored = JSON.parse(raw);
      var changed = false;
      Object.keys(stored || {}).forEach(function (name) {
        var entry = stored[name];
        var schema = entry && entry.schema;
        if (sensitive[name] || (schema && schema["x-sensitive"])) {
          delete stored[name];
          changed = true;
        }
      });
      if (changed) window.localStorage.setItem(STORE_KEY, JSON.stringify(stored));
    } catch (e) {
      window.localStorage.removeItem(STORE_KEY);
    }
  }

  function takeHandoff() {
    var raw = null;
    try {
      raw = window.sessionStorage.getItem(HANDOFF_KEY);
      window.sessionStorage.removeItem(HANDOFF_KEY);
    } catch (e) {
      return null;
    }
    if (!raw) return null;
    try {
      var value = JSON.parse(raw);
      return value && typeof value === "object" ? value : null;
    } catch (e) {
      return null;
    }
  }

  var ACTING_KEY = "fluide.acting";
  var ACTING_ID = /^[A-Za-z0-9_-]{1,64}$/;
  var WS_HEADER = "X-Workspace-Id";
  var CO_HEADER = "X-Acting-Company-Id";

  function validActing(value) {
    if (!value || typeof value !== "object") return null;
    var ws = value.workspaceId;
    var co = value.companyId;
    if (typeof ws !== "string" || typeof co !== "string") return null;
    if (!ACTING_ID.test(ws) || !ACTING_ID.test(co)) return null;
    var name = typeof value.companyName === "string" ? value.companyName.slice(0, 200) : "";
    return { workspaceId: ws, companyId: co, companyName: name };
  }

  function loadActing() {
    try {
      return validActing(JSON.parse(window.sessionStorage.getItem(ACTING_KEY) || "null"));
    } catch (e) {
      return null;
    }
  }

  function saveActing(value) {
    try {
      if (value) window.sessionStorage.setItem(ACTING_KEY, JSON.stringify(value));
      else window.sessionStorage.removeItem(ACTING_KEY);
    } catch (e) {
      /* storage disabled: the pick lasts until the page is left */
    }
  }

  function showActing() {
    var bar = document.getElementById("fluide-acting");
    if (!acting) {
      if (bar) bar.parentNode.removeChild(bar);
      return;
    }
    if (!bar) {
      bar = document.createElement("div");
      bar.id = "fluide-acting";
      bar.className = "fluide-acting";
      bar.setAttribute("role", "status");
      root.parentNode.insertBefore(bar, root);
    }
    bar.textContent = "";
    var text = document.createElement("span");
    // textContent only: the company's name is the partner's data, never markup.
    text.textContent =
      "Acting for " + (acting.companyName || acting.companyId) + " (" + acting.companyId +
      " in workspace " + acting.workspaceId + "): product calls carry " + WS_HEADER +
      " and " + CO_HEADER + ".";
    var stop = document.createElement("button");
    stop.type = "button";
    stop.className = "fluide-acting-stop";
    stop.textContent = "Stop acting";
    stop.addEventListener("click", function () {
      acting = null;
      saveActing(null);
      showActing();
    });
    bar.appendChild(text);
    bar.appendChild(stop);
  }

  function escapeRe(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  var actingOps = null;

  function actingOperations() {
    // [{method, re}] of the operations that declare the act-as header, from the loaded spec.
    if (actingOps) return actingOps;
    var spec = window.ui && window.ui.specSelectors.specJson();
    var paths = spec && spec.get("paths");
    if (!paths) return [];
    var found = [];
    paths.forEach(function (item, path) {
      item.forEach(function (op, method) {
        var params = op && op.get && op.get("parameters");
        var declares = params && params.some(function (p) {
          return p && p.get && p.get("in") === "header" &&
            String(p.get("name")).toLowerCase() === CO_HEADER.toLowerCase();
        });
        if (declares) {
          var pattern = path.split(/\{[^}]+\}/).map(escapeRe).join("[^/]+");
          found.push({ method: method.toUpperCase(), re: new RegExp("^(?:/.*)?" + pattern + "$") });
        }
      });
    });
    actingOps = found;
    return found;
  }

  function addActingHeaders(request) {
    if (!acting) return request;
    var headers = request.headers || {};
    var names = Object.keys(headers).map(function (n) { return n.toLowerCase(); });
    if (names.indexOf(WS_HEADER.toLowerCase()) >= 0 || names.indexOf(CO_HEADER.toLowerCase()) >= 0) {
      return request;
    }
    var path;
    try {
      path = new URL(request.url, window.location.href).pathname;
    } catch (e) {
      return request;
    }
    var method = String(request.method || "GET").toUpperCase();
    var matches = actingOperations().some(function (op) {
      return op.method === method && op.re.test(path);
    });
    if (matches) {
      headers[WS_HEADER] = acting.workspaceId;
      headers[CO_HEADER] = acting.companyId;
      request.headers = headers;
    }
    return request;
  }

  function ApiKeyDefaults(system) {
    var React = system.React;
    var h = React.createElement;

    function FluideApiKeyAuth(props) {
      var name = props.name;
      var schema = props.schema;
      var getComponent = props.getComponent;
      var Row = getComponent("Row");
      var Col = getComponent("Col");
      var AuthError = getComponent("authError");
      var Markdown = getComponent("Markdown", true);
      var current = props.authorized && props.authorized.getIn([name, "value"]);
      var fallback = schema.get("x-default") || "";
      var isSecret = !!schema.get("x-sensitive");
      if (isSecret) sensitive[name] = true;
      var state = React.useState(fallback);
      var value = state[0];
      var setValue = state[1];

      React.useEffect(function () {
        if (!current && fallback) {
          props.onChange({ name: name, schema: schema, value: fallback });
        }
      }, []);

      function onInput(event) {
        var next = event.target.value;
        setValue(next);
        props.onChange({ name: name, schema: schema, value: next });
      }

      var errors = props.errSelectors.allErrors().filter(function (err) {
        return err.get("authId") === name;
      });
      var inputId = "fluide-auth-" + name;
      return h(
        "div",
        { className: "fluide-auth", "data-scheme": name },
        h("h4", null, h("code", null, name), "\u00a0(apiKey)"),
        current ? h("h6", null, "Authorized") : null,
        h(Row, null, h(Markdown, { source: schema.get("description") })),
        h(Row, null, h("p", null, "Name: ", h("code", null, schema.get("name")))),
        h(Row, null, h("p", null, "In: ", h("code", null, schema.get("in")))),
        h(
          Row,
          null,
          h("label", { htmlFor: inputId }, "Value:"),
          current
            ? h("code", null, " ****** ")
            : h(
                Col,
                null,
                h("input", {
                  id: inputId,
                  name: name,
                  type: isSecret ? "password" : "text",
                  value: value,
                  onChange: onInput,
                  autoComplete: "off",
                  spellCheck: false,
                })
              )
        ),
        errors.valueSeq().map(function (err, i) {
          return h(AuthError, { error: err, key: i });
        })
      );
    }

    return {
      components: { apiKeyAuth: FluideApiKeyAuth },
      statePlugins: {
        auth: {
          wrapActions: {
            // Swagger UI shows one form (and one Authorize button) per scheme; the Fluide
            // contract needs them together, so the dialog shows them as a single form.
            showDefinitions: function (original) {
              return function (definitions) {
                if (definitions && typeof definitions.reduce === "function" && definitions.size > 1) {
                  var merged = definitions.reduce(function (acc, group) {
                    return acc.merge(group);
                  });
                  definitions = definitions.take(1).set(0, merged);
                }
                return original(definitions);
              };
            },
            persistAuthorizationIfNeeded: function (original) {
              return function () {
                var result = original.apply(null, arguments);
                scrubStoredSecrets();
                window.setTimeout(scrubStoredSecrets, 0);
                return result;
              };
            },
          },
        },
      },
    };
  }

  function normaliseAuthorization(request) {
    // A token pasted with its "Bearer " prefix would otherwise be sent as "Bearer Bearer …".
    var headers = request.headers || {};
    var value = headers.Authorization || headers.authorization;
    if (typeof value === "string") {
      var fixed = value.replace(/^Bearer\s+Bearer\s+/i, "Bearer ").trim();
      if (headers.Authorization !== undefined) headers.Authorization = fixed;
      else headers.authorization = fixed;
    }
    return addActingHeaders(request);
  }

  scrubStoredSecrets();
  var handoff = takeHandoff();
  // A hand-off from the dashboard replaces the pick: a key's "Try it" means the partner's own.
  if (handoff) saveActing(validActing(handoff.acting));
  var acting = loadActing();
  showActing();

  var ui = window.SwaggerUIBundle({
    url: specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    filter: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    plugins: [ApiKeyDefaults],
    requestInterceptor: normaliseAuthorization,
    onComplete: function () {
      if (!handoff) return;
      var pairs = [
        ["bearer", handoff.bearer],
        ["fluideApiKey", handoff.apiKey],
        ["fluideClientId", handoff.clientId || "fluide-developer"],
      ];
      var schemes = ui.specSelectors.specJson().getIn(["components", "securitySchemes"]);
      var payload = {};
      pairs.forEach(function (pair) {
        var schema = schemes && schemes.get(pair[0]);
        if (schema && typeof pair[1] === "string" && pair[1]) {
          // ui.preauthorizeApiKey would pass a plain-object schema, which Swagger UI's own
          // persistence step cannot read; authorize with the spec's schema instead.
          payload[pair[0]] = { name: pair[0], schema: schema, value: pair[1] };
        }
      });
      if (Object.keys(payload).length) ui.authActions.authorize(payload);
      ui.authActions.persistAuthorizationIfNeeded();
    },
  });
  window.ui = ui;
})();
