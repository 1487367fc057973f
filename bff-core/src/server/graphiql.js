// Starts GraphiQL on the playground page (bff-core/src/server/graphiql.rs).
// Served from the gateway's binary so that the page has no inline script:
// its Content-Security-Policy allows scripts from the gateway only. The page
// passes its settings in a JSON data block (`#bff-playground`), which the
// browser never executes.
(function () {
  'use strict';
  var settings = JSON.parse(document.getElementById('bff-playground').textContent);
  // The page's style nonce, for the <style> element GraphiQL's dialogs add
  // (react-remove-scroll reads it from this global).
  window.__webpack_nonce__ = settings.styleNonce;
  var params = new URLSearchParams(window.location.search);
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + settings.endpoint });
  // Styles set through the DOM: the policy allows no inline style either.
  document.body.style.margin = '0';
  var container = document.getElementById('graphiql');
  container.style.height = '100vh';
  var root = ReactDOM.createRoot(container);
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    query: params.get('query') || undefined,
    defaultEditorToolsVisibility: true,
    headers: settings.headers,
    defaultHeaders: settings.headers,
    // Off unless `clients.<name>.playground_persist_headers`: the headers
    // pane (a bearer token) then stays out of the browser's storage, and
    // GraphiQL's settings do not offer to keep it there.
    shouldPersistHeaders: settings.persistHeaders,
    showPersistHeadersSettings: settings.persistHeaders,
    storage: settings.persistHeaders ? undefined : storageWithoutHeaders(),
  }));

  // GraphiQL 4's history (`graphiql:queries`, `graphiql:favorites`) keeps
  // each run's headers whatever `shouldPersistHeaders` says: this storage
  // drops every `headers` field (and the headers pane's own key) before
  // anything reaches localStorage.
  function storageWithoutHeaders() {
    var local = window.localStorage;
    var namespace = 'graphiql:';
    function withoutHeaders(value) {
      if (Array.isArray(value)) return value.map(withoutHeaders);
      if (value === null || typeof value !== 'object') return value;
      var copy = {};
      Object.keys(value).forEach(function (key) {
        copy[key] = key === 'headers' ? null : withoutHeaders(value[key]);
      });
      return copy;
    }
    function keys() {
      var found = [];
      for (var i = 0; i < local.length; i++) {
        var key = local.key(i);
        if (key !== null && key.indexOf(namespace) === 0) found.push(key);
      }
      return found;
    }
    return {
      getItem: function (key) { return local.getItem(key); },
      removeItem: function (key) { local.removeItem(key); },
      setItem: function (key, value) {
        if (key === namespace + 'headers') return;
        var parsed;
        try {
          parsed = JSON.parse(value);
        } catch (e) {
          local.setItem(key, value);
          return;
        }
        local.setItem(key, JSON.stringify(withoutHeaders(parsed)));
      },
      get length() { return keys().length; },
      clear: function () { keys().forEach(function (key) { local.removeItem(key); }); },
    };
  }
})();
