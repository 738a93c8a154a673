package caddymodule

import (
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(new(App))
}

// App is authedge's Caddy app. It has nothing to configure: the handlers
// load it (an empty one when the config names none) for its Start, which
// Caddy calls once every module of a config is provisioned and the config
// is about to serve. It never runs for `caddy validate`, nor for a config
// that fails to provision: what a handler must not do before its config
// runs waits for it. The events worker is such a thing: started in
// Provision, it would deliver, and acknowledge, the environment's events
// to the webhook of a config that never serves. (Caddy starts apps in map
// order, so Start may still run for a config whose http app then fails to
// start; the handlers' Cleanup undoes it.)
type App struct {
	ctx     caddy.Context
	mu      sync.Mutex
	started bool
	onStart []func()
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "authedge",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision keeps ctx, for Start to look at the config's http app.
func (a *App) Provision(ctx caddy.Context) error {
	a.ctx = ctx
	return nil
}

// Start warns of handle_errors routes that reach an upstream without the
// identity edge (errorroutes.go), then runs what the config's handlers
// left for it, in the order they left it.
func (a *App) Start() error {
	warnUnguardedErrorRoutes(a.ctx, a.ctx.Logger())
	a.mu.Lock()
	a.started = true
	fns := a.onStart
	a.onStart = nil
	a.mu.Unlock()
	for _, f := range fns {
		f()
	}
	return nil
}

// Stop does nothing: each handler's Cleanup releases what it holds.
func (a *App) Stop() error { return nil }

// whenStarted runs f when a starts, or at once if it has.
func (a *App) whenStarted(f func()) {
	a.mu.Lock()
	if !a.started {
		a.onStart = append(a.onStart, f)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	f()
}

// appOf is the authedge app of ctx's config, loaded by the first handler
// that asks.
func appOf(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("authedge")
	if err != nil {
		return nil, err
	}
	app, ok := v.(*App)
	if !ok {
		return nil, fmt.Errorf("the authedge app is a %T", v)
	}
	return app, nil
}

// Interface guards
var (
	_ caddy.App         = (*App)(nil)
	_ caddy.Provisioner = (*App)(nil)
)
