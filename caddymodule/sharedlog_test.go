package caddymodule

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func observedHandler(level zapcore.Level) (*Handler, *observer.ObservedLogs) {
	core, logs := observer.New(level)
	return &Handler{logger: zap.New(core).Named("http.handlers.authedge")}, logs
}

// A shared component writes through the newest holder's logger, with its
// own name and fields, and falls back to the one before when that holder
// lets go: after a reload its lines go where the loaded config says.
func TestSharedLogFollowsNewestHolder(t *testing.T) {
	first, firstLogs := observedHandler(zapcore.DebugLevel)
	second, secondLogs := observedHandler(zapcore.InfoLevel)
	log := newSharedLog(first)
	component := log.logger().Named("events").With(zap.String("stream", "s1"))

	component.Info("one")
	first.holdLog(log, false)
	second.holdLog(log, true)
	component.Info("two")
	component.Debug("below the second config's level")
	second.Cleanup()
	component.Info("three")

	if got := messages(firstLogs); len(got) != 2 || got[0] != "one" || got[1] != "three" {
		t.Errorf("the first config's log: %q, want one and three", got)
	}
	got := secondLogs.All()
	if len(got) != 1 || got[0].Message != "two" {
		t.Fatalf("the second config's log: %q, want two alone", messages(secondLogs))
	}
	if got[0].LoggerName != "http.handlers.authedge.events" {
		t.Errorf("logger name %q", got[0].LoggerName)
	}
	if f := got[0].ContextMap(); f["stream"] != "s1" {
		t.Errorf("fields %v, want stream s1", f)
	}

	// The last holder's logger stays for what a stopping component writes.
	first.Cleanup()
	component.Info("stopping")
	if got := messages(firstLogs); got[len(got)-1] != "stopping" {
		t.Errorf("after the last holder let go: %q", got)
	}
}

func messages(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.All() {
		out = append(out, e.Message)
	}
	return out
}
