package bayes

import (
	"context"
	"fmt"
	"io"
)

// Progress reports how far Train has got.
type Progress struct {
	// Messages read so far, and the bytes of the files they came from
	// out of TotalBytes (every file of the call).
	Messages   int
	Bytes      int64
	TotalBytes int64
	// Path is the file being read.
	Path string
}

// TrainResult is what Train did.
type TrainResult struct {
	// Messages is how many messages were read.
	Messages int `json:"messages"`
	LearnResult
}

// Train learns every message under paths (files, mbox files, Maildirs,
// directories of them; see ListSources) as class, in the global model
// (user "") or user's. progress, when not nil, is called after each batch
// of messages and at the end. A file that cannot be read stops training
// with an error; what was learned before stays learned.
func (b *Bayes) Train(ctx context.Context, class Class, user string, paths []string, progress func(Progress)) (TrainResult, error) {
	var res TrainResult
	if class != Ham && class != Spam {
		return res, fmt.Errorf("bayes: train: bad class %d", class)
	}
	srcs, err := ListSources(paths)
	if err != nil {
		return res, err
	}
	var p Progress
	for _, s := range srcs {
		p.TotalBytes += s.Size
	}
	ref := b.ref(user)
	batch := make([]item, 0, b.o.Batch)
	flush := func() error {
		r, _, err := b.apply(ctx, ref, batch)
		res.merge(r)
		batch = batch[:0]
		if progress != nil {
			progress(p)
		}
		return err
	}
	for _, s := range srcs {
		p.Path = s.Path
		err := ReadSource(s.Path, func(_ int, raw []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch = append(batch, item{digest: MessageDigest(raw), ids: b.tok.Tokens(nil, raw), class: class})
			res.Messages++
			p.Messages++
			if len(batch) >= b.o.Batch {
				return flush()
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("bayes: train: %s: %w", s.Path, err)
		}
		p.Bytes += s.Size
	}
	if err := flush(); err != nil {
		return res, fmt.Errorf("bayes: train: %w", err)
	}
	return res, nil
}

// WriteText writes the result as `moat train` prints it.
func (r TrainResult) WriteText(w io.Writer, class Class) error {
	_, err := fmt.Fprintf(w, "read %d messages: %d learned as %s, %d moved from %s, %d already learned\n",
		r.Messages, r.Learned, class, r.Moved, other(class), r.Already)
	return err
}

func other(c Class) Class {
	if c == Spam {
		return Ham
	}
	return Spam
}

// WriteText writes the stats as `moat bayes stats` prints them.
func (s Stats) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "spam learned:  %d\nham learned:   %d\ntokens:        %d\n", s.SpamLearned, s.HamLearned, s.Tokens)
	return err
}

// ProgressBar returns a progress func that draws a one-line bar on w (a
// terminal), redrawn in place, ended with a newline by the returned done
// func.
func ProgressBar(w io.Writer) (progress func(Progress), done func()) {
	drawn := false
	progress = func(p Progress) {
		frac := 1.0
		if p.TotalBytes > 0 {
			frac = min(float64(p.Bytes)/float64(p.TotalBytes), 1)
		}
		const width = 30
		n := int(frac * width)
		bar := make([]byte, width)
		for i := range bar {
			switch {
			case i < n:
				bar[i] = '='
			case i == n:
				bar[i] = '>'
			default:
				bar[i] = ' '
			}
		}
		fmt.Fprintf(w, "\r[%s] %3.0f%% %d messages", bar, frac*100, p.Messages)
		drawn = true
	}
	done = func() {
		if drawn {
			fmt.Fprintln(w)
		}
	}
	return progress, done
}
