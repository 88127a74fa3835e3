// Package bayes is moat's content scorer: a MIME-aware tokenizer, a
// Robinson–Fisher classifier, a token store in filter/state, training
// from .eml files, Maildirs and mbox files, and evaluation.
//
// # Tokens
//
// The Tokenizer reads a raw message (an mbox "From " line allowed on top)
// and returns distinct 64-bit token ids. Header fields give prefixed
// tokens: every field name; the words of every value except dates and
// message ids ("H:received:…"), with word pairs; and parsed tokens for the
// subject (s:), the sender's name, address and domain (fn:, fa:, fd:),
// Reply-To, recipients, X-Mailer/User-Agent (xm:), Received hops (hosts,
// registered domains, IPv4 /16 and /24, protocol: r:), authentication
// results (ar:), the Message-ID domain and the Date zone. The body is
// walked part by part (multipart, attached messages, at most MaxParts
// parts MaxDepth deep): transfer encodings are undone (lenient base64 and
// quoted-printable, at most MaxPartBytes of output per part), ISO-8859-1,
// Windows-1252 and UTF-8 text becomes UTF-8 (other charsets keep their
// bytes; legacy double-byte CJK charsets are read two bytes a character),
// HTML (also HTML mislabelled as plain text) becomes its visible text plus
// tokens for elements, link and image hosts, colours, font sizes and
// hidden text (display:none, tiny fonts, text in the background colour:
// hid:). Words are case-folded, runs of three or more digits fold to "#"
// and their length, words over MaxWordLen become "skip" tokens, URLs give
// their host, registered domain and path words, addresses their domain.
// Each word is also paired with the Window−1 words before it (orthogonal
// sparse bigrams: "a b", "a _ c"). Scripts written without spaces (Han,
// kana, Thai, …) give character bigrams. Work is bounded whatever the
// input: MaxTokens tokens, MaxURLs URLs, MaxReceived hops, 200 header
// fields.
//
// # Classifier
//
// Each token's spam probability is Robinson's f(w) = (s·x + n·p(w)) /
// (s + n), where p(w) compares the token's frequency among learned spam
// and learned ham and n is the number of messages it was seen in
// (Strength s, Prior x). Tokens closer to 0.5 than MinDeviation are
// dropped; the MaxClues most significant are combined with Fisher's
// inverse chi-square method into a spam indicator S and a ham indicator H.
// When both saturate (strong evidence both ways, common in list mail and
// newsletters) the ConflictClues strongest decide. The probability spreads
// the orders of magnitude of S − H over the scale (0.5 ± 0.5 (1 + log10
// |S − H| / 8)); Result.Rank (ln of the ham tail over the spam tail) breaks
// ties. The check emits BAYES_SPAM at or above SpamCutoff, BAYES_HAM at
// or below HamCutoff, BAYES_UNSURE between, each scored in proportion to
// the probability, and nothing until the model has learned MinLearned
// messages of each class.
//
// # Store
//
// Models live in a state.Store (Redis, shared by every moat instance, or
// the embedded store): the global one and, when PerUser is on, one per
// recipient, blended with the global one (the global token probability is
// the prior of the user's). Tokens are kept in buckets (see model.go for
// the layout), updated by one atomic script per bucket (Lua on Redis, Go
// on the embedded store). Learning is batched: token count changes are
// summed and written once per bucket. A message is identified by its
// Digest: learning it twice counts once, learning it as the other class
// moves it, Unlearn removes it. A model past its cap (MaxTokens,
// UserMaxTokens) is pruned to 90% of it, rarest and oldest tokens first;
// tokens seen once and not learned for RareAge expire. Token counts read
// from the store are cached in memory for CacheTTL (learning through the
// same Bayes drops what it changed).
//
// # Training and evaluation
//
// Train reads files, mbox files and Maildirs (ListSources, ReadSource)
// and learns them in batches. Eval learns one directory of ham/ and spam/
// and tests another, or cross-validates one (the i-th message of a class,
// in file-name order, in fold i mod K), and returns the metrics of the
// `moat bayes eval --json` document.
package bayes
