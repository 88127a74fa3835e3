package state

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// redisLog routes go-redis's own log lines (its connection pool writes
// "failed to dial" to stderr on every failed command) into slog at debug
// level: the store's callers already log backend failures, rate-limited,
// and raw lines on stderr would break log.format: json.
type redisLog struct{ l *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.l.Log(ctx, slog.LevelDebug, "redis: "+fmt.Sprintf(format, v...))
}

// setRedisLogger installs log as go-redis's logger. go-redis has one
// process-wide logger, so the last store opened wins; all of moat's stores
// log to the same place.
func setRedisLogger(log *slog.Logger) {
	redis.SetLogger(redisLog{l: log})
}
