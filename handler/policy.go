package handler

import (
	"fmt"
	"time"

	"github.com/authedge/caddy-authedge/config"
	"github.com/authedge/caddy-authedge/store"
	"github.com/authedge/caddy-authedge/token"
)

// Contact channels as config names them.
const (
	channelPhone = "phone"
	channelEmail = "email"
)

// policy is the configuration's rules, compiled once in New.
type policy struct {
	// verify lists the channels whose change needs a verification token.
	verify []string
	// sensitive lists the fields whose bound value needs sudo to change.
	sensitive []string
	// The same two, as the store's edits take them.
	verifySet, sensitiveSet store.FieldSet
	maxAuthAge              time.Duration
	editLimit               store.Limit
	lookupLimit             store.Limit // checkIfUserExist, checkUsername and contact answers per client IP
	codeTTL                 time.Duration
	tokenTTL                time.Duration
	sudoTTL                 time.Duration
	// events is how edits append change events: off (zero) without an
	// events block.
	events store.EventStream
}

// defaultStreamMaxLen is config's default stream_max_len, for a
// configuration built without ApplyDefaults.
const defaultStreamMaxLen = 1000000

func newPolicy(cfg *config.Config) (policy, error) {
	p := policy{
		verify:     cfg.Verification.RequiredChannels(),
		sensitive:  cfg.Sudo.SensitiveFields(),
		maxAuthAge: time.Duration(cfg.Sudo.MaxAuthAge),
		codeTTL:    time.Duration(cfg.Verification.CodeTTL),
		tokenTTL:   time.Duration(cfg.Verification.TokenTTL),
		sudoTTL:    time.Duration(cfg.Sudo.TokenTTL),
	}
	if e := cfg.Events; e != nil {
		p.events.MaxLen = e.StreamMaxLen
		if p.events.MaxLen <= 0 {
			p.events.MaxLen = defaultStreamMaxLen
		}
	}
	if l := cfg.RateLimit.Edits; l != nil {
		p.editLimit = store.Limit{Count: l.Count, Window: time.Duration(l.Window)}
	}
	if l := cfg.RateLimit.Lookups; l != nil {
		p.lookupLimit = store.Limit{Count: l.Count, Window: time.Duration(l.Window)}
	}
	var err error
	if p.verifySet, err = store.NewContactSet(p.verify...); err != nil {
		return policy{}, fmt.Errorf("verification required: %w", err)
	}
	if p.sensitiveSet, err = store.NewFieldSet(p.sensitive...); err != nil {
		return policy{}, fmt.Errorf("sudo sensitive: %w", err)
	}
	return p, nil
}

func (p *policy) needsVerification(channel string) bool { return contains(p.verify, channel) }
func (p *policy) isSensitive(field string) bool         { return contains(p.sensitive, field) }

// recentAuth reports whether the access token itself proves a recent sign-in
// (auth_time within max_auth_age), which counts as secondary verification.
func (p *policy) recentAuth(claims *token.Claims, now time.Time) bool {
	if p.maxAuthAge <= 0 || claims.AuthTime.IsZero() {
		return false
	}
	return now.Sub(claims.AuthTime) <= p.maxAuthAge
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
