package store

import (
	"context"
	"time"
)

// trainTimeout bounds one call to the Trainer.
const trainTimeout = time.Minute

// runTraining hands the messages of reqs to the Trainer, after the index
// commit that recorded what they are now trained as. It runs even when
// ctx is cancelled (the index already says the message is trained);
// errors are logged, not returned.
func (s *Store) runTraining(ctx context.Context, user string, reqs []trainReq) {
	if s.trainer == nil || len(reqs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), trainTimeout)
	defer cancel()
	for _, r := range reqs {
		raw, err := s.readFile(r.file)
		if err != nil {
			s.log.Error("store: training: reading message", "user", user, "spam", r.spam, "err", err)
			continue
		}
		if err := s.trainer.Train(ctx, user, r.spam, raw); err != nil {
			s.log.Error("store: training", "user", user, "spam", r.spam, "err", err)
		}
	}
}
