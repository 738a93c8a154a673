package handler

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/internal/secret"
	"github.com/authedge/caddy-authedge/metrics"
	"github.com/authedge/caddy-authedge/notify"
	"github.com/authedge/caddy-authedge/profile"
	"github.com/authedge/caddy-authedge/store"
)

// Verification targets (docs/api.md#send-a-verification-code).
const (
	targetAny     = "ANY"
	targetNotUser = "NOT_USER"
	targetCurUser = "CUR_USER"
)

// sendCodeBody is POST /auth/v1/verification's body.
type sendCodeBody struct {
	PhoneNumber *string `json:"phone_number"`
	Email       *string `json:"email"`
	Target      *string `json:"target"`
	Usage       *string `json:"usage"`
}

// contact is a phone number or email address, validated and normalised.
type contact struct {
	channel string // channelPhone or channelEmail
	key     string // uniqueness key
	display string // stored form
}

// wireChannel is the channel name of the webhook message.
func (c contact) wireChannel() string {
	if c.channel == channelPhone {
		return "sms"
	}
	return "email"
}

func (a *API) serveSendCode(w http.ResponseWriter, c *call) *apiError {
	if a.deps.Sender == nil {
		return errUnimplemented
	}
	var body sendCodeBody
	if err := decodeBody(c.body, &body); err != nil {
		return err
	}
	req, err := body.check()
	if err != nil {
		return err
	}
	to := req.to
	if req.target == targetCurUser {
		if to, err = a.boundContact(c, body.PhoneNumber != nil); err != nil {
			return err
		}
	}
	id, code := secret.ID(), secret.Code()
	v := store.NewVerification{
		ID:          id,
		UserID:      c.claims.Subject,
		Channel:     to.channel,
		Key:         to.key,
		Display:     to.display,
		Code:        a.sealCode(id, code),
		Sealed:      a.deps.CodeKey != nil,
		Usage:       req.usage,
		TTL:         a.policy.codeTTL,
		RefuseBound: req.target == targetNotUser,
		Owner:       req.target == targetCurUser,
		// is_user and NOT_USER's 409 tell whether a contact is
		// registered: they spend the IP's lookups, as checkIfUserExist
		// does, or throwaway accounts would multiply the rate.
		ClientIP: ipLimitKey(a.deps.ClientIP(c.r)),
		Lookups:  a.policy.lookupLimit,
	}
	ctx := c.r.Context()
	isUser, serr := a.deps.Store.StartVerification(ctx, v)
	if errors.Is(serr, store.ErrNotBound) {
		// The bound contact read above moved before the send's script
		// ran: answered as if it had moved before the read.
		return noBoundContact(to.channel == channelPhone)
	}
	if serr != nil {
		a.obs.sendRefused(to.wireChannel(), serr)
		if errors.Is(serr, store.ErrUnavailable) || errors.Is(serr, context.DeadlineExceeded) {
			// In the background: the 503 must not wait a second timeout.
			go a.forgetUnsent(ctx, v)
		}
		return a.storeError(c, serr)
	}
	msg := notify.Message{
		VerificationID: v.ID,
		Channel:        to.wireChannel(),
		To:             to.display,
		Code:           code,
		Usage:          req.usage,
		ExpiresIn:      seconds(a.policy.codeTTL),
	}
	if err := a.deliver(ctx, v, msg); err != nil {
		return err
	}
	b := make([]byte, 0, 96)
	b = append(b, `{"verification_id":`...)
	b = appendJSONString(b, v.ID)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(msg.ExpiresIn), 10)
	b = append(b, `,"is_user":`...)
	b = strconv.AppendBool(b, isUser)
	writeJSON(w, http.StatusOK, append(b, '}'))
	return nil
}

// sealCode is what the store keeps the digest of for code, the code of
// verification id: with a code key (Deps.CodeKey), HMAC-SHA256 of the
// two under it, which no one without the key can test a guess against;
// without one, the code itself.
func (a *API) sealCode(id, code string) string {
	if a.deps.CodeKey == nil {
		return code
	}
	mac := hmac.New(sha256.New, a.deps.CodeKey)
	mac.Write([]byte(id))
	mac.Write([]byte{':'})
	mac.Write([]byte(code))
	return hex.EncodeToString(mac.Sum(nil))
}

// deliveryTimeout bounds a delivery whatever the sender's own timeout: it
// runs detached from the client, so nothing else would.
const deliveryTimeout = 30 * time.Second

// deliver sends the code of v and settles its count by the outcome. The
// delivery runs to its end whatever the client does: a client that hangs
// up must not cancel a delivery the receiver may already have acted on,
// and so get the send un-counted. A definite failure forgets the code and
// un-counts the send, but for its place in the caller's minute (so a
// refusing receiver gets at most that many attempts from one caller); an
// unknown outcome (the request went out, no answer
// came) forgets the code but the send counts, since the receiver may have
// sent it. Both are 503.
func (a *API) deliver(ctx context.Context, v store.NewVerification, msg notify.Message) *apiError {
	detached := context.WithoutCancel(ctx)
	dctx, cancel := context.WithTimeout(detached, deliveryTimeout)
	err := a.deps.Sender.Send(dctx, msg)
	cancel()
	if err == nil {
		a.obs.codeSent(msg.Channel, metrics.SendDelivered)
		return nil
	}
	maybe := notify.MaybeDelivered(err)
	// The clean-up gets a deadline of its own: the delivery may have used
	// up the whole of the last one.
	cctx, cancel := context.WithTimeout(detached, 2*time.Second)
	var cerr error
	if maybe {
		cerr = a.deps.Store.AbandonVerification(cctx, v)
	} else {
		cerr = a.deps.Store.FailVerification(cctx, v)
	}
	cancel()
	outcome, counted := notify.Failed, metrics.SendFailed
	if maybe {
		outcome, counted = notify.Unknown, metrics.SendUnknown
	}
	a.obs.codeSent(msg.Channel, counted)
	a.log.Warn("verification code delivery failed",
		zap.String("channel", msg.Channel), zap.String("to", profile.MaskContact(v.Channel == channelEmail, msg.To)),
		zap.Stringer("outcome", outcome), zap.Bool("counted", maybe), zap.Error(err), zap.NamedError("cancel_error", cerr))
	e := newError(http.StatusServiceUnavailable, "unavailable", "the verification code could not be delivered; retry later")
	e.retryAfter = time.Second
	return e
}

// forgetUnsent undoes a StartVerification that failed without a definite
// answer (Redis did not answer in time, or `wait` went unconfirmed): its
// script may have run, but no code was sent, so nothing of it may count.
// Cancelling one that never ran changes nothing. It runs detached from the
// client, as deliver's clean-up does: a client that hung up must not keep
// its send counted. (A script still queued in Redis that runs after the
// cancel stays counted, as it always was.)
func (a *API) forgetUnsent(ctx context.Context, v store.NewVerification) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	err := a.deps.Store.CancelVerification(cctx, v)
	cancel()
	if err == nil {
		return
	}
	if ce := a.log.Check(zap.DebugLevel, "an unconfirmed verification could not be cancelled"); ce != nil {
		ce.Write(zap.String("channel", v.Channel), zap.Error(err))
	}
}

// remoteHost is the default Deps.ClientIP: the host of RemoteAddr.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipLimitKey is whose wrong codes count together: an IPv4 address, or an
// IPv6 address's /64, which one host or one customer usually holds whole
// (counting single IPv6 addresses would give it 2^64 budgets). Anything
// unparsable counts as itself.
func ipLimitKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// sendCodeRequest is a checked sendCodeBody.
type sendCodeRequest struct {
	target string
	usage  string
	// to is the recipient for ANY and NOT_USER; for CUR_USER it is the
	// caller's bound contact, which only the store knows.
	to contact
}

// check is step 4's field rules for a code request.
func (b *sendCodeBody) check() (sendCodeRequest, *apiError) {
	if (b.PhoneNumber == nil) == (b.Email == nil) {
		return sendCodeRequest{}, invalidArgument("give exactly one of phone_number and email")
	}
	req := sendCodeRequest{target: targetAny, usage: deref(b.Usage)}
	if b.Target != nil && *b.Target != "" {
		req.target = *b.Target
	}
	if utf8.RuneCountInString(req.usage) > 64 || !printable(req.usage) {
		return sendCodeRequest{}, invalidArgument("usage: at most 64 printable characters")
	}
	switch req.target {
	case targetAny, targetNotUser:
		var err *apiError
		if req.to, err = parseContact(b.PhoneNumber, b.Email); err != nil {
			return sendCodeRequest{}, err
		}
	case targetCurUser:
	default:
		return sendCodeRequest{}, invalidArgument("target: must be ANY, NOT_USER or CUR_USER")
	}
	return req, nil
}

// parseContact validates the one contact a body names.
func parseContact(phone, email *string) (contact, *apiError) {
	if phone != nil {
		p, err := profile.ParsePhone(withoutSDKPrefix(*phone))
		if err != nil {
			return contact{}, fieldError("phone_number", err)
		}
		return contact{channel: channelPhone, key: p.E164, display: p.Display}, nil
	}
	display, key, err := profile.Email(*email)
	if err != nil {
		return contact{}, fieldError("email", err)
	}
	return contact{channel: channelEmail, key: key, display: display}, nil
}

// sdkPhonePrefix is what CloudBase's SDK (getVerification) writes in front
// of a phone number that does not start with "+<country code> <digit>",
// meaning a bare Chinese number; but an international number in another
// form the API accepts ("+8613800138000", "+1 (415) 555-2671") gets it too.
const sdkPhonePrefix = "+86 "

// withoutSDKPrefix undoes sdkPhonePrefix where it cannot be meant: a '+'
// right after it can only start the number's own country code. Anything
// else is left for the phone rule to judge.
func withoutSDKPrefix(s string) string {
	if rest, ok := strings.CutPrefix(s, sdkPhonePrefix); ok && strings.HasPrefix(rest, "+") {
		return rest
	}
	return s
}

// boundContact is CUR_USER's recipient: the caller's own bound phone or
// email. What the body gave as its value (often masked) is ignored.
func (a *API) boundContact(c *call, phone bool) (contact, *apiError) {
	p, ok, err := a.deps.Store.Profile(c.r.Context(), c.claims.Subject)
	if err != nil {
		return contact{}, a.storeError(c, err)
	}
	if phone {
		if !ok || p.Phone == "" {
			return contact{}, noBoundContact(true)
		}
		return contact{channel: channelPhone, key: profile.PhoneKey(p.Phone), display: p.Phone}, nil
	}
	if !ok || p.Email == "" {
		return contact{}, noBoundContact(false)
	}
	return contact{channel: channelEmail, key: profile.EmailKey(p.Email), display: p.Email}, nil
}

// noBoundContact answers CUR_USER for a channel on which the caller has
// no bound contact.
func noBoundContact(phone bool) *apiError {
	if phone {
		return invalidArgument("phone_number: you have no bound phone number to send a code to")
	}
	return invalidArgument("email: you have no bound email address to send a code to")
}

// verifyCodeBody is POST /auth/v1/verification/verify's body.
type verifyCodeBody struct {
	VerificationID   *string `json:"verification_id"`
	VerificationCode *string `json:"verification_code"`
}

// serveVerifyCode trades a correct code for a verification token. It takes
// no access token (CloudBase's SDK sends none): the unguessable
// verification_id names the request, and the token is bound to the user who
// asked for the code.
func (a *API) serveVerifyCode(w http.ResponseWriter, c *call) *apiError {
	if a.deps.Sender == nil {
		return errUnimplemented
	}
	var body verifyCodeBody
	if err := decodeBody(c.body, &body); err != nil {
		return err
	}
	id, code := deref(body.VerificationID), deref(body.VerificationCode)
	if id == "" || len(id) > 128 {
		return invalidArgument("verification_id: required, as returned by POST /auth/v1/verification")
	}
	// Neither was issued unless it has the shape secret gives it: such a
	// pair is answered as an unknown one, without a round trip, and junk
	// never becomes part of a key.
	if !secret.IsID(id) || !secret.IsCode(code) {
		return errInvalidVerificationCode
	}
	tok := secret.Token()
	ip := ipLimitKey(a.deps.ClientIP(c.r))
	sealed := ""
	if a.deps.CodeKey != nil {
		sealed = a.sealCode(id, code)
	}
	if err := a.deps.Store.CheckSealedCode(c.r.Context(), ip, id, code, sealed, tok, a.policy.tokenTTL); err != nil {
		return a.storeError(c, err)
	}
	b := make([]byte, 0, 96)
	b = append(b, `{"verification_token":`...)
	b = appendJSONString(b, tok)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, int64(seconds(a.policy.tokenTTL)), 10)
	writeJSON(w, http.StatusOK, append(b, '}'))
	return nil
}

// printable rejects control characters (C0, DEL and C1) and format
// characters such as bidi overrides: usage is echoed into a message a
// person reads, where either could disguise what the message says.
func printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

func seconds(d time.Duration) int { return int(d / time.Second) }
