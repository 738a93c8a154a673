package notify

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLogSenderWritesCodeAtWarn(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	for _, m := range []Message{
		testMessage,
		{VerificationID: "vid-2", Channel: "email", To: "zhangsan@example.com", Code: "000001", ExpiresIn: 600},
	} {
		if err := NewLog(zap.New(core)).Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	entries := logs.AllUntimed()
	if len(entries) != 2 {
		t.Fatalf("%d log entries, want 2", len(entries))
	}
	wantTo := []string{"+86 130****0000", "z***@example.com"}
	wantCode := []string{"042137", "000001"}
	for i, e := range entries {
		if e.Level != zapcore.WarnLevel {
			t.Errorf("entry %d level %v, want warn", i, e.Level)
		}
		if !strings.Contains(e.Message, "development") {
			t.Errorf("entry %d message %q does not say it is a development sender", i, e.Message)
		}
		f := e.ContextMap()
		if f["code"] != wantCode[i] {
			t.Errorf("entry %d code = %v, want %q", i, f["code"], wantCode[i])
		}
		// The code is the point; the contact still stays masked.
		if f["to"] != wantTo[i] {
			t.Errorf("entry %d to = %v, want %q", i, f["to"], wantTo[i])
		}
	}
}

func TestLogSenderNilLogger(t *testing.T) {
	if err := NewLog(nil).Send(context.Background(), testMessage); err != nil {
		t.Fatal(err)
	}
}

// Both senders satisfy Sender.
var (
	_ Sender = (*Webhook)(nil)
	_ Sender = (*Log)(nil)
)
