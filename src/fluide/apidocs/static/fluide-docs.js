/* Fluide Connect playground: Swagger UI set up for the Fluide header contract.
 *
 * - API-key fields start with the scheme's `x-default` (fl_dev_your_key, fluide-developer)
 *   and stay editable, so the placeholder key can simply be replaced.
 * - Authorizations persist across reloads, except the API secret, which is never stored.
 * - The dashboard's "Try it" hands over {bearer, apiKey, clientId} once through
 *   sessionStorage["fluide.playground"]; it is applied and removed on load.
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
    return request;
  }

  scrubStoredSecrets();
  var handoff = takeHandoff();

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
