package pop3

import "strings"

// command parses and runs one command line; it reports whether the
// session must end.
func (ss *session) command(line []byte) bool {
	cmd, err := parseCommand(line)
	if err != nil {
		ss.badCommand("%s", err)
		return false
	}
	if ss.state == stateAuthorization {
		switch cmd.Name {
		case "CAPA":
			ss.capa(cmd)
		case "USER":
			ss.cmdUser(cmd)
		case "PASS":
			return ss.cmdPass(cmd)
		case "AUTH":
			return ss.cmdAuth(cmd)
		case "STLS":
			return ss.cmdSTLS(cmd)
		case "QUIT":
			ss.ok("%s POP3 server signing off", ss.srv.o.Hostname)
			return true
		case "APOP":
			ss.badCommand("APOP is not supported; use USER/PASS or AUTH PLAIN")
		case "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL":
			ss.badCommand("%s is only valid after login", cmd.Name)
		default:
			ss.badCommand("unknown command")
		}
		return false
	}
	switch cmd.Name {
	case "CAPA":
		ss.capa(cmd)
	case "STAT":
		ss.cmdStat(cmd)
	case "LIST":
		ss.cmdList(cmd)
	case "UIDL":
		ss.cmdUIDL(cmd)
	case "RETR":
		return ss.cmdRetr(cmd)
	case "TOP":
		return ss.cmdTop(cmd)
	case "DELE":
		ss.cmdDele(cmd)
	case "NOOP":
		if len(cmd.Args) != 0 {
			ss.badCommand("NOOP takes no arguments")
			return false
		}
		ss.ok("")
	case "RSET":
		ss.cmdRset(cmd)
	case "QUIT":
		ss.cmdQuit()
		return true
	case "USER", "PASS", "AUTH", "APOP", "STLS":
		ss.badCommand("%s is not valid after login", cmd.Name)
	default:
		ss.badCommand("unknown command")
	}
	return false
}

// capa answers CAPA (RFC 2449): what a client may use in the current
// state. USER and SASL PLAIN are listed only where a password may be sent.
func (ss *session) capa(cmd command) {
	if len(cmd.Args) != 0 {
		ss.badCommand("CAPA takes no arguments")
		return
	}
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"}
	if ss.state == stateAuthorization {
		if ss.plaintextOK() {
			caps = append(caps, "USER", "SASL PLAIN")
		}
		if ss.srv.o.TLS != nil && !ss.tls {
			caps = append(caps, "STLS")
		}
	}
	caps = append(caps, "IMPLEMENTATION moat")
	ss.ok("capability list follows")
	ss.w.WriteString(strings.Join(caps, "\r\n"))
	ss.w.WriteString("\r\n.\r\n")
}
