package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/authedge/caddy-authedge/edge"
)

// TestUnguardedErrorRoutes: which error routes reach an upstream with no
// identity edge run before it, in the shapes the Caddyfile makes (each
// directive of handle_errors in a route of its own, inside a subroute
// matched by the site's host) and in hand-written JSON.
func TestUnguardedErrorRoutes(t *testing.T) {
	withEdge := &Handler{edge: new(edge.Edge)}
	apiOnly := &Handler{} // authedge without an identity block
	proxy := new(reverseproxy.Handler)
	respond := new(caddyhttp.StaticResponse)
	route := func(hs ...caddyhttp.MiddlewareHandler) caddyhttp.Route { return caddyhttp.Route{Handlers: hs} }
	matched := func(r caddyhttp.Route) caddyhttp.Route {
		r.MatcherSets = caddyhttp.MatcherSets{caddyhttp.MatcherSet{}}
		return r
	}
	sub := func(rs ...caddyhttp.Route) *caddyhttp.Subroute { return &caddyhttp.Subroute{Routes: rs} }
	for name, tc := range map[string]struct {
		routes caddyhttp.RouteList
		want   bool
	}{
		"a proxy alone":                   {caddyhttp.RouteList{route(proxy)}, true},
		"respond":                         {caddyhttp.RouteList{route(respond)}, false},
		"the edge, then a proxy":          {caddyhttp.RouteList{route(withEdge, proxy)}, false},
		"the edge's route, then proxy":    {caddyhttp.RouteList{route(withEdge), route(proxy)}, false},
		"Caddyfile: edge, rewrite, proxy": {caddyhttp.RouteList{matched(route(sub(route(withEdge), route(respond), route(proxy))))}, false},
		"Caddyfile: rewrite, proxy":       {caddyhttp.RouteList{matched(route(sub(route(respond), route(proxy))))}, true},
		"authedge without identity":       {caddyhttp.RouteList{route(apiOnly), route(proxy)}, true},
		"an edge behind a matcher":        {caddyhttp.RouteList{matched(route(withEdge)), route(proxy)}, true},
		"a proxy before the edge":         {caddyhttp.RouteList{route(proxy), route(withEdge)}, true},
		"the edge in an earlier subroute": {caddyhttp.RouteList{route(sub(route(withEdge))), route(proxy)}, false},
		"a proxy in a later subroute":     {caddyhttp.RouteList{route(respond), route(sub(route(proxy)))}, true},
	} {
		if got, _ := unguardedProxy(tc.routes, false); got != tc.want {
			t.Errorf("%s: reaches an unguarded proxy = %v, want %v", name, got, tc.want)
		}
	}
	if !runsEdge(caddyhttp.RouteList{matched(route(sub(route(respond), route(withEdge))))}) {
		t.Error("runsEdge missed an edge in a subroute")
	}
	if runsEdge(caddyhttp.RouteList{route(apiOnly), route(proxy)}) {
		t.Error("runsEdge counted authedge without an identity block")
	}
}
