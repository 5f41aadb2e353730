// Fluide Connect dashboard: a few progressive enhancements, no framework, no CDN.
(function () {
  "use strict";

  // A page that reveals a secret is the answer to a POST. Point the history entry at a
  // harmless page so that a reload (or Back) never replays the POST nor shows the secret.
  var replace = document.querySelector("[data-replace-url]");
  if (replace && window.history && history.replaceState) {
    history.replaceState(null, "", replace.getAttribute("data-replace-url"));
  }

  function copyText(text, done) {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text, done); });
    } else {
      fallback(text, done);
    }
  }

  function fallback(text, done) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); done(); } catch (e) { /* the user can still select */ }
    document.body.removeChild(area);
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var label = button.textContent;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) { return; }
      copyText(source.textContent.trim(), function () {
        button.setAttribute("data-copied", "true");
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 2000);
      });
    });
  });

  // "Try it": hand the token to the playground through sessionStorage (never the URL).
  var auth = document.getElementById("playground-auth");
  if (auth) {
    try {
      var data = JSON.parse(auth.textContent);
      // A partner's pick of a client company travels with the token (ids and a name, no secret).
      sessionStorage.setItem("fluide.playground", JSON.stringify({
        bearer: data.bearer, apiKey: data.apiKey, clientId: data.clientId,
        acting: data.acting || null
      }));
      auth.textContent = "";
      history.replaceState(null, "", data.acting ? "/connect/workspaces" : "/connect/keys");
      window.location.assign("/docs");
    } catch (e) {
      // Storage disabled: the link on the page still opens the reference.
    }
  }
})();
