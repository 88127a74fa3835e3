package relay

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"
)

// reply builds an SMTP reply that carries the transaction id, so a user who
// reports a rejection gives the admin the key to the log line.
func reply(code int, enh smtp.EnhancedCode, txnID, text string) *smtp.SMTPError {
	if txnID != "" {
		text += " [" + txnID + "]"
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: text}
}

// Replies moat gives. The texts are generic on purpose: the detail (which
// symbol, which list) goes to the log, never to the client.
func replyRelayDenied(id string) *smtp.SMTPError {
	return reply(550, smtp.EnhancedCode{5, 7, 1}, id, "Relaying denied: recipient domain not served here")
}

func replyBadRecipient(id string) *smtp.SMTPError {
	return reply(550, smtp.EnhancedCode{5, 1, 3}, id, "Bad recipient address syntax")
}

func replyBadSender(id string) *smtp.SMTPError {
	return reply(550, smtp.EnhancedCode{5, 1, 7}, id, "Bad sender address syntax")
}

func replyOtherRoute(id string) *smtp.SMTPError {
	return reply(452, smtp.EnhancedCode{4, 5, 3}, id, "Recipient served by another route; send it in a separate transaction")
}

func replyOtherPolicy(id string) *smtp.SMTPError {
	return reply(452, smtp.EnhancedCode{4, 5, 3}, id, "Recipient has its own filtering policy; send it in a separate transaction")
}

func replyBareLF(id string) *smtp.SMTPError {
	return reply(550, smtp.EnhancedCode{5, 5, 2}, id, "Message refused: bare CR or LF in message text (RFC 5321 section 2.3.8)")
}

func replyNUL(id string) *smtp.SMTPError {
	return reply(550, smtp.EnhancedCode{5, 6, 0}, id, "Message refused: NUL byte in message header")
}

func replyTooLarge(id string) *smtp.SMTPError {
	return reply(552, smtp.EnhancedCode{5, 3, 4}, id, "Message size exceeds the limit")
}

func replyLocalError(id string) *smtp.SMTPError {
	return reply(451, smtp.EnhancedCode{4, 3, 0}, id, "Temporary local error, try again later")
}

func replyDownstreamDown(id string) *smtp.SMTPError {
	return reply(451, smtp.EnhancedCode{4, 4, 1}, id, "Downstream server unreachable, try again later")
}

func replyReject(id string) *smtp.SMTPError {
	return reply(550, smtp.EnhancedCode{5, 7, 1}, id, "Message rejected by policy")
}

func replyGreylist(id, text string) *smtp.SMTPError {
	return reply(451, smtp.EnhancedCode{4, 7, 1}, id, text)
}

func replyTempfail(id string) *smtp.SMTPError {
	return reply(451, smtp.EnhancedCode{4, 7, 1}, id, "Temporarily deferred by policy, try again later")
}

func replyTimeout(id string) *smtp.SMTPError {
	return reply(421, smtp.EnhancedCode{4, 4, 2}, id, "Timeout waiting for message data")
}

// downstreamReply passes a downstream server's refusal on in the same class
// (4xx stays 4xx, 5xx stays 5xx); anything that is not an SMTP reply (a
// refused connection, a timeout, a broken pipe) becomes 451 4.4.1.
func downstreamReply(id string, err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return replyDownstreamDown(id)
	}
	code, class := se.Code, se.Code/100
	if class != 4 && class != 5 {
		code, class = 451, 4
	}
	enh := se.EnhancedCode
	if enh[0] != class {
		enh = smtp.EnhancedCode{class, 0, 0}
	}
	msg := strings.ToValidUTF8(se.Message, "?")
	return reply(code, enh, id, "Downstream: "+msg)
}

// replyCode renders a reply as "CODE X.Y.Z" for logs.
func replyCode(e *smtp.SMTPError) string {
	if e == nil {
		return "250 2.0.0"
	}
	return fmt.Sprintf("%d %d.%d.%d", e.Code, e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
}
