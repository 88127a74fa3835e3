package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/moatmail/moat/filter/bayes"
)

// trainCounter counts training events (metrics).
type trainCounter interface {
	Trained(class, source string)
}

// bayesTrainer teaches the Bayes scorer what users do in their mailboxes
// (store.Trainer): into Junk is spam, out of it ham. The global model
// learns, and with bayes.per_user the user's own model too.
type bayesTrainer struct {
	b       *bayes.Bayes
	perUser bool
	count   trainCounter
	log     *slog.Logger
}

// Train learns raw as spam or ham; a message learned as the other class
// before is moved (untrained, then trained).
func (t bayesTrainer) Train(ctx context.Context, user string, spam bool, raw []byte) error {
	class, name := bayes.Ham, "ham"
	if spam {
		class, name = bayes.Spam, "spam"
	}
	r, err := t.b.Learn(ctx, "", class, raw)
	if err != nil {
		return fmt.Errorf("bayes: learning from %s's mailbox: %w", user, err)
	}
	if t.perUser {
		if _, err := t.b.Learn(ctx, user, class, raw); err != nil {
			return fmt.Errorf("bayes: learning into %s's model: %w", user, err)
		}
	}
	t.count.Trained(name, "mailbox")
	t.log.Info("trained from mailbox", "user", user, "class", name, "result", fmt.Sprintf("%+v", r))
	return nil
}
