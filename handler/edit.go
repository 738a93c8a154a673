package handler

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/authedge/caddy-authedge/profile"
	"github.com/authedge/caddy-authedge/store"
)

// editBody is POST /auth/v1/user/basic/edit's body. Pointers tell "not
// given" (absent or null) from a given value.
type editBody struct {
	UserID            *string `json:"user_id"`
	Nickname          *string `json:"nickname"`
	Username          *string `json:"username"`
	Phone             *string `json:"phone"`
	Email             *string `json:"email"`
	AvatarURL         *string `json:"avatar_url"`
	Gender            *string `json:"gender"`
	Description       *string `json:"description"`
	VerificationToken *string `json:"verification_token"`
	SudoToken         *string `json:"sudo_token"`
	// CloudBase's ModifyUserBasicInfoRequest has these; they are named so
	// the answer can say why they are refused rather than "unknown field".
	Password    json.RawMessage `json:"password"`
	NewPassword json.RawMessage `json:"new_password"`

	// planned is plan's result: in the body, which is allocated anyway.
	planned editPlan
	// values are the string fields' values when decodeFast decoded them:
	// the fields point here.
	values [10]string

	// phoneName is what the request called Phone in error messages: ""
	// for basic/edit's own "phone"; user/contact, which reuses this body,
	// sends it as "phone_number".
	phoneName string
}

func (b *editBody) phoneField() string {
	if b.phoneName == "" {
		return "phone"
	}
	return b.phoneName
}

// editPlan is a validated edit, ready for the policy steps and the store.
type editPlan struct {
	userID            string // "" means the caller
	changes           store.Changes
	verificationToken string
	sudoToken         string
	// answerProfile answers the edited profile, as user/me does, instead
	// of {} (PATCH user/profile).
	answerProfile bool
}

func (a *API) serveEdit(w http.ResponseWriter, c *call) *apiError {
	b := editBodies.Get().(*editBody)
	err := a.serveEditBody(w, c, b)
	// The edit is done with it: the store copied what it sent, and the
	// answer's words are strings of their own.
	*b = editBody{}
	editBodies.Put(b)
	return err
}

// editBodies are reused: a body, with its plan and values, was the edit's
// largest allocation.
var editBodies = sync.Pool{New: func() any { return new(editBody) }}

// editRequest is a body that, once decoded, validates into an edit:
// basic/edit's own, or user/contact's one-contact form of it.
type editRequest interface {
	plan() (*editPlan, *apiError)
}

// serveEditBody decodes body from the request, validates it (step 4) and
// applies the edit (steps 5 to 8).
func (a *API) serveEditBody(w http.ResponseWriter, c *call, body editRequest) *apiError {
	if err := decodeBody(c.body, body); err != nil {
		return err
	}
	plan, err := body.plan()
	if err != nil {
		return err
	}
	return a.applyEdit(w, c, plan)
}

// plan is step 4's field rules: each given field validated and normalised.
func (b *editBody) plan() (*editPlan, *apiError) {
	if given(b.Password) || given(b.NewPassword) {
		return nil, invalidArgument("password: passwords are not handled by this server")
	}
	if b.UserID != nil && !validUserID(*b.UserID) {
		return nil, invalidArgument("user_id: at most 256 bytes, no control characters")
	}
	p := &b.planned
	*p = editPlan{
		userID:            deref(b.UserID),
		verificationToken: deref(b.VerificationToken),
		sudoToken:         deref(b.SudoToken),
	}
	var err error
	ch := &p.changes
	if ch.Nickname, err = required(b.Nickname, profile.Nickname); err != nil {
		return nil, fieldError("nickname", err)
	}
	if b.Username != nil {
		display, _, err := profile.Username(*b.Username)
		if err != nil {
			return nil, fieldError("username", err)
		}
		ch.Username = same(b.Username, display)
	}
	if ch.Phone, err = removable(b.Phone, phoneDisplay); err != nil {
		return nil, fieldError(b.phoneField(), err)
	}
	if ch.Email, err = removable(b.Email, emailDisplay); err != nil {
		return nil, fieldError("email", err)
	}
	if ch.AvatarURL, err = removable(b.AvatarURL, profile.AvatarURL); err != nil {
		return nil, fieldError("avatar_url", err)
	}
	if ch.Gender, err = removable(b.Gender, profile.Gender); err != nil {
		return nil, fieldError("gender", err)
	}
	if ch.Description, err = removable(b.Description, profile.Description); err != nil {
		return nil, fieldError("description", err)
	}
	return p, nil
}

// applyEdit runs steps 5 to 8 (docs/api.md#order-of-checks) for a validated
// edit. Both basic/edit and user/contact end here, so their rules cannot
// drift apart.
func (a *API) applyEdit(w http.ResponseWriter, c *call, plan *editPlan) *apiError {
	ctx := c.r.Context()
	caller := c.claims.Subject
	target, self := caller, true
	if plan.userID != "" && plan.userID != caller {
		if !c.claims.Admin {
			return insufficientScope(a.cfg.JWT.AdminScope, "only an admin may edit another user")
		}
		target, self = plan.userID, false
	}
	// The current profile decides sudo and verification (phone, email) and,
	// for another user, existence; an edit of one's own other fields needs
	// no read before its script.
	// Allocated only when read: the store keeps what it is given, so a
	// profile declared for every edit would be moved to the heap for all.
	current := &noProfile
	read := !self || plan.changes.Phone != nil || plan.changes.Email != nil
	if read {
		p, exists, err := a.deps.Store.Profile(ctx, target)
		if err != nil {
			return a.storeError(c, err)
		}
		if !exists && !self {
			return errUserNotFound
		}
		current = &p
	}

	edit := store.Edit{
		Actor:           caller,
		Target:          target,
		CreateIfMissing: self,
		Changes:         plan.changes,
		RateLimit:       a.policy.editLimit,
		// An admin editing someone else skips verification and sudo.
		SudoSatisfied: !self,
		// Recorded by the edit's own script: the target's history and,
		// with events on, a change event (docs/api.md, docs/events.md).
		Origin: a.origin(c),
		Events: a.policy.events,
	}
	if read {
		// The script starts from it rather than guessing the target has no
		// username, phone or email yet.
		edit.Current = current
	}
	if self {
		edit.Sensitive = a.policy.sensitiveSet
		edit.VerifyChannels = a.policy.verifySet
		edit.VerificationToken = plan.verificationToken
		proven, err := a.checkSudo(c, plan, current)
		if err != nil {
			return err
		}
		edit.SudoSatisfied = proven
		if err := a.checkVerificationPresent(plan, current); err != nil {
			return err
		}
	}

	res, serr := a.deps.Store.Edit(ctx, edit)
	if serr != nil {
		return a.storeError(c, serr)
	}
	if ce := a.log.Check(zap.InfoLevel, "profile edited"); ce != nil {
		ce.Write(zap.String("actor", caller), zap.String("target", target),
			zap.Strings("changed", res.Changed), zap.Bool("created", res.Created))
	}
	if plan.answerProfile {
		return a.writeProfile(w, c, target)
	}
	writeEmptyObject(w)
	return nil
}

// noProfile is the profile of a user who has none yet, or whose profile
// an edit did not need to read: never written to.
var noProfile store.Profile

// checkSudo is step 6: replacing or removing an already bound value of a
// sensitive field needs a sudo token of the caller or a recent sign-in, and
// so does binding a first phone or email while the other contact is bound
// and sensitive (sudo accepts a code sent to any bound contact: a contact
// added without sudo would let a stolen access token pass sudo with the
// thief's own address). It reports whether sudo was proven, which lets the
// store script allow such a change even if the profile moved since current
// was read. The script applies the same rules to the profile as it is, so
// this early answer cannot be raced past.
func (a *API) checkSudo(c *call, plan *editPlan, current *store.Profile) (bool, *apiError) {
	needed := false
	touched := false
	for i := range contactFields {
		field := &contactFields[i]
		newValue := field.get(&plan.changes)
		if newValue == nil {
			continue
		}
		bound := field.bound(current)
		if a.policy.isSensitive(field.name) {
			touched = true
			if bound != "" && field.key(*newValue) != field.key(bound) {
				needed = true
			}
		}
		other := &contactFields[1-i]
		if a.policy.isSensitive(other.name) {
			touched = true
			if bound == "" && *newValue != "" && other.bound(current) != "" {
				needed = true
			}
		}
	}
	if !touched {
		return false, nil
	}
	if a.policy.recentAuth(c.claims, a.now()) {
		return true, nil
	}
	if plan.sudoToken != "" {
		ok, err := a.deps.Store.SudoValid(c.r.Context(), c.claims.Subject, plan.sudoToken)
		if err != nil {
			return false, a.storeError(c, err)
		}
		if ok {
			return true, nil
		}
	}
	if needed {
		return false, errSudoRequired
	}
	return false, nil
}

// checkVerificationPresent is step 7: a contact that verification covers,
// changed to a new non-empty value, needs a verification token; whether the
// token is valid is the store script's to decide, atomically with the write.
func (a *API) checkVerificationPresent(plan *editPlan, current *store.Profile) *apiError {
	needing := 0
	for i := range contactFields {
		field := &contactFields[i]
		newValue := field.get(&plan.changes)
		if newValue == nil || *newValue == "" || !a.policy.needsVerification(field.name) {
			continue
		}
		if field.key(*newValue) != field.key(field.bound(current)) {
			needing++
		}
	}
	switch {
	case needing > 1:
		return invalidArgument("change one verified contact at a time: phone and email each need their own verification_token")
	case needing == 1 && plan.verificationToken == "":
		return errVerificationRequired
	}
	return nil
}

// contactField is what the policy steps need to know of phone and email.
type contactField struct {
	name string
	get  func(*store.Changes) *string
	// key is the uniqueness key of a stored display value: two values with
	// the same key are the same contact.
	key func(display string) string
}

// bound is the value p holds for f. A method, not a func field like get:
// a profile passed through a func value escapes to the heap, and the one
// an edit reads would be allocated for that alone.
func (f *contactField) bound(p *store.Profile) string {
	if f.name == channelPhone {
		return p.Phone
	}
	return p.Email
}

var contactFields = []contactField{
	{
		name: channelPhone,
		get:  func(c *store.Changes) *string { return c.Phone },
		key:  profile.PhoneKey,
	},
	{
		name: channelEmail,
		get:  func(c *store.Changes) *string { return c.Email },
		key:  profile.EmailKey,
	},
}

// maxUserIDBytes bounds user_id: it becomes part of a Redis key.
const maxUserIDBytes = 256

// validUserID bounds what an admin may name as user_id before it reaches
// Redis as part of a key ("" means yourself). A query string, unlike a
// body, is not checked for UTF-8 before: invalid bytes would pass
// printable as U+FFFD and name a user no token's sub can be.
func validUserID(id string) bool {
	return len(id) <= maxUserIDBytes && utf8.ValidString(id) && printable(id)
}

func phoneDisplay(s string) (string, error) {
	p, err := profile.ParsePhone(s)
	return p.Display, err
}

func emailDisplay(s string) (string, error) {
	display, _, err := profile.Email(s)
	return display, err
}

// required validates a field that cannot be cleared.
func required(v *string, validate func(string) (string, error)) (*string, error) {
	if v == nil {
		return nil, nil
	}
	out, err := validate(*v)
	if err != nil {
		return nil, err
	}
	return same(v, out), nil
}

// same is v when it holds out already, as it mostly does (the value was
// sent as it is stored), else a pointer to out: a request's fields cost no
// allocation each.
func same(v *string, out string) *string {
	if *v == out {
		return v
	}
	p := new(string) // not &out: out would be moved to the heap on every call
	*p = out
	return p
}

// removable validates a field for which "" means remove.
func removable(v *string, validate func(string) (string, error)) (*string, error) {
	if v == nil || *v == "" {
		return v, nil
	}
	return required(v, validate)
}

// fieldError names field, the request's own name for what failed a rule:
// one profile rule serves fields that endpoints name differently (basic/edit's
// phone is the contact endpoints' phone_number).
func fieldError(field string, err error) *apiError {
	var fe *profile.FieldError
	if errors.As(err, &fe) {
		return invalidArgument(field + ": " + fe.Reason)
	}
	return invalidArgument(field + ": " + err.Error())
}

// given reports whether a raw field was sent with a value: null, like
// absence, means not given (docs/api.md#null-and-empty-strings).
func given(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
