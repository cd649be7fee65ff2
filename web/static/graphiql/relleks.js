// The GraphiQL page of the Relleks API (web/graphiql.py). Loaded after React, ReactDOM, GraphiQL
// and its explorer plugin, all served by the API itself.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("relleks-graphiql-config").textContent);
  var url = window.location.origin + window.location.pathname;
  var subscriptionUrl = url.replace(/^http/, "ws");

  function readCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) {
        return decodeURIComponent(parts[i].slice(eq + 1));
      }
    }
    return null;
  }

  // Every HTTP request repeats the CSRF cookie (set with the session cookies by
  // `logIn(input: {..., useCookies: true})`) in X-CSRF-Token, read when the request is sent:
  // cookie-authenticated mutations need it. Subscriptions go over a WebSocket to this origin,
  // which carries the session cookie (or the headers editor's Authorization) itself.
  function fetchWithCsrf(input, init) {
    var options = Object.assign({}, init);
    var headers = new Headers(options.headers || {});
    var token = readCookie(config.csrfCookie);
    if (token && !headers.has("X-CSRF-Token")) {
      headers.set("X-CSRF-Token", token);
    }
    options.headers = headers;
    options.credentials = "same-origin";
    return window.fetch(input, options);
  }

  var fetcher = GraphiQL.createFetcher({
    url: url,
    subscriptionUrl: subscriptionUrl,
    fetch: fetchWithCsrf,
  });

  var example = {query: config.example.query, variables: config.example.variables};
  var explorer = GraphiQLPluginExplorer.explorerPlugin();

  var props = {
    fetcher: fetcher,
    defaultTabs: [example],
    defaultQuery: example.query,
    defaultEditorToolsVisibility: true,
    plugins: [explorer],
    inputValueDeprecation: true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
  };
  // GraphiQL fills the first tab's variables editor from the `variables` prop only: give it the
  // example's on a first visit (later visits reopen the tabs GraphiQL stored).
  var storedTabs = null;
  try {
    storedTabs = window.localStorage.getItem("graphiql:tabState");
  } catch (e) {
    // storage disabled: every visit is a first one
  }
  if (!storedTabs) {
    props.variables = example.variables;
  }
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));
})();
