// LearnGraph's GraphiQL page: GraphiQL 3 and its explorer plugin, from the files beside this one,
// over the /graphql the page was served from. The page's JSON config (learngraph-graphiql-config)
// holds the starter query and the headers every request carries (`learngraph demo` gives a token).
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("learngraph-graphiql-config").textContent);
  var defaultHeaders = config.headers || {};
  var parameters = new URLSearchParams(window.location.search);
  var url = window.location.href.split(/[?#]/)[0];
  var subscriptionUrl = url.replace(/^http/, "ws"); // http: to ws:, https: to wss:

  // One fetcher per set of headers: queries and mutations send them as HTTP headers, subscriptions
  // in their WebSocket's `connection_init` payload (graphql-transport-ws), where the gateway reads
  // `Authorization` and `X-API-Key`. The Headers tab's entries win over the page's.
  var fetchers = new Map();
  function fetcherFor(headers) {
    var key = JSON.stringify(headers);
    if (!fetchers.has(key)) {
      fetchers.set(
        key,
        GraphiQL.createFetcher({
          url: url,
          headers: headers,
          subscriptionUrl: subscriptionUrl,
          wsConnectionParams: headers,
        }),
      );
    }
    return fetchers.get(key);
  }
  function fetcher(graphQLParams, options) {
    var headers = Object.assign({}, defaultHeaders, (options && options.headers) || {});
    return fetcherFor(headers)(graphQLParams, options);
  }

  // The query and variables live in the address (`?q=...&variables=...`), so a page can be shared.
  // (`?query=` is no page: a GET /graphql carrying a query is GraphQL over HTTP.)
  function remember(name, value) {
    if (value) {
      parameters.set(name, value);
    } else {
      parameters.delete(name);
    }
    var search = parameters.toString();
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  function LearnGraphGraphiQL() {
    var queryState = React.useState(parameters.get("q") || config.starterQuery);
    var variablesState = React.useState(parameters.get("variables") || undefined);
    var explorer = React.useMemo(function () {
      return GraphiQLPluginExplorer.explorerPlugin();
    }, []);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      query: queryState[0],
      variables: variablesState[0],
      onEditQuery: function (query) {
        queryState[1](query);
        remember("q", query);
      },
      onEditVariables: function (variables) {
        variablesState[1](variables);
        remember("variables", variables);
      },
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      // A token pasted in the Headers tab is not kept for the next visit (a demo's tokens change).
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(LearnGraphGraphiQL),
  );
})();
