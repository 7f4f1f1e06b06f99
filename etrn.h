/*
 * etrn: ask a mail server to start delivering the mail it holds for a node
 * (SMTP ETRN, RFC 1985), and report the outcome through the exit status.
 *
 * The types that cross files and the functions each file exports.
 */
#ifndef ETRN_H
#define ETRN_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <netinet/in.h>
#include <poll.h>

#define ETRN_VERSION "1.2"

/*
 * Exit statuses, one per outcome; the man page's EXIT STATUS table copies
 * status_table in outcome.c.  The sysexits values keep their usual meaning.
 */
enum status {
	ST_STARTED = 0,		/* 2xx other than 251 */
	ST_EMPTY = 1,		/* 251: nothing waiting */
	ST_NOT_STORED = 2,	/* 458: cannot queue for this node */
	ST_REFUSED = 3,		/* 459 and 5xx not listed elsewhere */
	ST_NOT_OFFERED = 4,	/* not in EHLO, EHLO rejected, 500/502/504 */
	ST_TLS = 5,		/* TLS required and not possible */
	ST_USAGE = 64,		/* EX_USAGE */
	ST_NOHOST = 68,		/* EX_NOHOST */
	ST_UNAVAILABLE = 69,	/* EX_UNAVAILABLE */
	ST_SOFTWARE = 70,	/* EX_SOFTWARE */
	ST_OSERR = 71,		/* EX_OSERR */
	ST_IOERR = 74,		/* EX_IOERR: the results were not written */
	ST_TEMPFAIL = 75,	/* EX_TEMPFAIL */
	ST_PROTOCOL = 76,	/* EX_PROTOCOL */
	ST_NOPERM = 77,		/* EX_NOPERM */
};

/* RFC 5321 section 4.5.3.1.2: a domain is at most 255 octets on the wire. */
#define DOMAIN_MAX 253
/* RFC 1035 section 2.3.4. */
#define LABEL_MAX 63
/* RFC 5321 section 4.5.3.1.4: a command line, CRLF included. */
#define COMMAND_LINE_MAX 512
/*
 * RFC 5321 section 4.5.3.1.5 allows reply lines of 512 octets; servers
 * exceed that in EHLO lists and texts, so twice as much is accepted.
 */
#define REPLY_LINE_MAX 1024
/* Lines in one reply: a long EHLO list has about 20. */
#define REPLY_LINES_MAX 64
/* All the text of one reply, lines joined by '\n'. */
#define REPLY_TEXT_MAX 8192
/* Addresses tried for one run: every MX host with a few addresses each. */
#define CANDIDATES_MAX 64
/* MX hosts used from one answer (RFC 5321 section 5.1 sets no limit). */
#define MX_HOSTS_MAX 16
/* "host[address]:port", as named in messages and result lines. */
#define PEER_NAME_MAX (DOMAIN_MAX + 64)
/* What a result line shows of a reply or a reason, after escaping. */
#define OUTCOME_TEXT_MAX 1024
/* c-ares sockets watched at once: UDP and TCP for each resolver. */
#define DNS_SOCKETS_MAX	32
/*
 * How long QUIT's reply is awaited once every outcome is known (RFC 5321
 * section 4.1.1.10 wants it read; the outcome never depends on it).
 */
#define QUIT_WAIT_NS (2 * NS_PER_SEC)

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_SEC INT64_C(1000000000)

/* What the command line asked for. */
struct options {
	char		 host[DOMAIN_MAX + 1];	/* server, without port or [] */
	bool		 host_is_literal;	/* an IPv4 or IPv6 address */
	unsigned int	 port;			/* from server, -p, or 25 */
	int		 family;		/* AF_UNSPEC, AF_INET or 6 */
	bool		 mx;
	bool		 all;
	bool		 check;
	bool		 force;
	bool		 verbose;
	bool		 quiet;
	bool		 syslog;
	bool		 json;			/* --json instead of lines */
	const char	*helo;			/* NULL: derived at connect */
	const char	*dns_servers;		/* NULL: /etc/resolv.conf */
	struct sockaddr_storage source;		/* -s: bind to it */
	socklen_t	 source_len;		/* 0: no -s */
	bool		 port_given;		/* by -p or in server */
	bool		 starttls;		/* -S: STARTTLS required */
	bool		 tls;			/* implicit TLS */
	bool		 insecure;		/* no certificate checks */
	const char	*cafile;		/* NULL: the system's roots */
	const char	*capath;		/* a hashed directory of CAs */
	const char	*cert;			/* client certificate (PEM) */
	const char	*key;			/* its key; NULL: in cert */
	bool		 dane;			/* TLSA records (RFC 7672) */
	const char	*user;			/* -u: AUTH as this user */
	const char	*auth_mech;		/* --auth, or NULL: the best */
	char		 password[COMMAND_LINE_MAX];
	bool		 insecure_auth;		/* AUTH without TLS */
	int64_t		 timeout_ns;		/* each network step */
	int64_t		 max_time_ns;		/* the whole run */
	int		 retries;		/* --retry: tries after the first */
	int64_t		 retry_delay_ns;	/* before the first retry */
	char	       **nodes;			/* as sent: A-labels */
	char	       **shown;			/* as result lines name them */
	size_t		 nnodes;
	void		*node_store;		/* options_free frees it */
	const char	*password_file;		/* --password-file */
	const char	*config;		/* --config, or --profile's */
	bool		 show_config;		/* print the settings, exit 0 */
	char	       **interfaces;		/* the profile's, for hooks */
	size_t		 ninterfaces;
};

/* Profiles are SYSCONFDIR/etrn/NAME.conf; the Makefile sets it. */
#ifndef SYSCONFDIR
#define SYSCONFDIR "/usr/local/etc"
#endif
/*
 * A profile is a dozen short lines; anything near this size is not one
 * (and a device or a huge file is never read whole).
 */
#define CONFIG_FILE_MAX 65536
/* Settings read from one profile (--config); at most so many of them. */
#define CONFIG_ARGS_MAX 256
/* interface keys: the links a profile belongs to (hooks read them). */
#define INTERFACES_MAX 16
/* Longer than any long option's name, "--" and the NUL included. */
#define CONFIG_KEY_MAX 32
/* --profile NAME: SYSCONFDIR/etrn/NAME.conf. */
#define CONFIG_PATH_MAX 4096

struct config {
	char		 shown[4 * CONFIG_PATH_MAX + 1]; /* the file, escaped */
	char		 text[CONFIG_FILE_MAX + 1];	/* cut in place */
	int		 argc;			/* argv for getopt_long */
	char		*argv[CONFIG_ARGS_MAX + 1];
	unsigned int	 line[CONFIG_ARGS_MAX];	/* of each argv[i] */
	char		 opt[CONFIG_ARGS_MAX][CONFIG_KEY_MAX]; /* "--key" */
	char		*operands[CONFIG_ARGS_MAX + 2]; /* server, nodes */
	unsigned int	 operand_line[CONFIG_ARGS_MAX + 1];
	size_t		 nnodes;
	char		*interfaces[INTERFACES_MAX];
	size_t		 ninterfaces;
};

/* Address families by index: answers for each are kept apart. */
#define FAM_V4		0
#define FAM_V6		1
#define FAMILIES	2
/* dns_host statuses beside the other ARES_* codes. */
#define DNS_OK		0		/* ARES_SUCCESS */
#define DNS_PENDING	(-1000)		/* asked, no answer yet */
#define DNS_NOT_ASKED	(-1001)		/* -4, -6 or a literal */
/* Addresses kept per host and family. */
#define ADDRS_PER_FAMILY_MAX 8
#define ADDRS_PER_HOST_MAX (FAMILIES * ADDRS_PER_FAMILY_MAX)

/*
 * A TLSA record (RFC 6698 section 2.1) as DANE for SMTP uses it (RFC 7672
 * section 3.1.3: DANE-TA and DANE-EE, a digest or the whole object).
 */
#define TLSA_DATA_MAX	64		/* SHA2-512, matching type 2 */
#define TLSA_RECORDS_MAX 8		/* RFC 7671 section 8.1: a few */
struct tlsa {
	uint8_t		 usage;		/* 2 DANE-TA, 3 DANE-EE */
	uint8_t		 selector;	/* 0 certificate, 1 public key */
	uint8_t		 mtype;		/* 0 whole, 1 SHA2-256, 2 SHA2-512 */
	size_t		 len;
	unsigned char	 data[TLSA_DATA_MAX];
};

/* What DNSSEC said of a host's TLSA records (--dane, RFC 7672 2.2). */
enum dane_state {
	DANE_OFF = 0,		/* not asked: no --dane, or an address */
	DANE_PENDING,		/* asked, no answer yet */
	DANE_USABLE,		/* validated records: STARTTLS, checked */
	DANE_NONE,		/* validated: no TLSA record */
	DANE_UNUSABLE,		/* validated, none usable: STARTTLS only */
	DANE_INSECURE,		/* the answer was not validated (no AD) */
	DANE_FAILED,		/* SERVFAIL, bogus, timeout: host not used */
};

struct dane {
	enum dane_state	 state;
	enum dane_state	 tlsa;		/* what the TLSA answer alone said */
	unsigned int	 waiting;	/* answers still to come */
	bool		 addr_insecure;	/* an address answer had no AD bit */
	char		 why[96];	/* with DANE_FAILED */
	size_t		 n;
	struct tlsa	 v[TLSA_RECORDS_MAX];
};

/* One host to connect to, and what DNS has said of it so far. */
struct dns_host {
	char			 name[DOMAIN_MAX + 1];
	unsigned int		 pref;		/* MX preference */
	int			 status[FAMILIES]; /* ARES_* or DNS_* */
	int64_t			 answered_ns[FAMILIES];
	int64_t			 deadline_ns;	/* of its lookups */
	bool			 skipped;	/* this machine: not used */
	struct sockaddr_storage	 addr[ADDRS_PER_HOST_MAX]; /* port set */
	size_t			 naddr;
	struct dane		 dane;		/* its TLSA records */
};

/* One parsed reply line (RFC 5321 section 4.2). */
struct reply_line {
	int		 code;
	bool		 more;		/* '-' separator: lines follow */
	const char	*text;		/* after the separator, no NUL */
	size_t		 textlen;
};

/* A complete reply: the code and each line's text, joined by '\n'. */
struct reply {
	int	code;
	bool	more;			/* its last line so far had '-' */
	size_t	nlines;
	size_t	len;
	char	text[REPLY_TEXT_MAX];
};

enum reply_error {
	REPLY_OK = 0,
	REPLY_MALFORMED,	/* not "ddd", "ddd-text" or "ddd text" */
	REPLY_BAD_CODE,		/* RFC 5321 section 4.2: [2-5][0-9][0-9] */
	REPLY_MISMATCH,		/* a continuation line with another code */
	REPLY_TOO_LONG,		/* line over REPLY_LINE_MAX */
	REPLY_TOO_MANY,		/* over REPLY_LINES_MAX or REPLY_TEXT_MAX */
};

/* How a read or write on a connection ended. */
enum io {
	IO_OK = 0,
	IO_TIMEOUT,		/* the deadline passed */
	IO_CLOSED,		/* the server closed the connection */
	IO_BAD_REPLY,		/* see conn.reply_error */
	IO_UNEXPECTED,		/* the server spoke out of turn */
	IO_ERROR,		/* see conn.error */
	IO_TLS,			/* see conn.tls_error */
	IO_AGAIN,		/* not yet: wait for conn.events (tls_events) */
};

/* From a non-blocking read or write: wait for the events asked, retry. */
#define CONN_AGAIN (-2)

struct tls;

/* A server as messages, result lines and --json name it. */
struct peer {
	char		 name[PEER_NAME_MAX];	/* "host[address]:port", or host */
	char		 host[DOMAIN_MAX + 1];	/* name it was reached by */
	char		 address[INET6_ADDRSTRLEN]; /* "" when none was reached */
	unsigned int	 port;			/* 0 likewise */
	const char	*tls_version;		/* "TLSv1.3"; NULL: no TLS */
	const char	*tls_auth;		/* "pkix", "dane", "insecure" */
};

/* A connection: a socket and the bytes read but not yet used. */
struct conn {
	int		 fd;
	struct peer	 peer;
	char		 prefix[PEER_NAME_MAX + 2]; /* "" or "peer: " */
	char		 buf[REPLY_LINE_MAX];
	size_t		 len;			/* bytes held in buf */
	char		 out[COMMAND_LINE_MAX + 1]; /* a command being sent */
	size_t		 outlen;
	size_t		 outoff;		/* how much of it went */
	short		 events;		/* a read or write waits for */
	enum reply_error reply_error;		/* with IO_BAD_REPLY */
	int		 error;			/* errno, with IO_ERROR */
	struct tls	*tls;			/* NULL until TLS starts */
	short		 tls_events;		/* the handshake waits for */
	char		 tls_error[256];	/* with IO_TLS */
	bool		 tls_alert;		/* the server sent a TLS alert */
	const struct dane *dane;		/* NULL: no DANE for it */
};

/* The outcome for one node: status, who gave it, and what was said. */
struct outcome {
	int		status;
	struct peer	peer;		/* who gave it */
	int	code;			/* the reply's; 0 when none */
	bool	etrn_reply;		/* the reply was ETRN's: hints apply */
	bool	forced;			/* ETRN sent though not listed */
	char	text[OUTCOME_TEXT_MAX];	/* "CODE text" or "- reason" */
};

/*
 * What became of one connection attempt; --json lists every one (etrn.1
 * names the words of attempt_word).
 */
enum attempt_result {
	ATTEMPT_SESSION,	/* greeted 220: a session ran on it */
	ATTEMPT_FAILED,		/* no connection: refused, unreachable */
	ATTEMPT_TIMEOUT,	/* no connection within --timeout */
	ATTEMPT_GREETING,	/* greeted 4xx or 5xx */
	ATTEMPT_BROKEN,		/* closed, bad or late greeting */
	ATTEMPT_SUPERSEDED,	/* closed unfinished: another one won */
};

struct attempt {
	struct peer		 peer;
	enum attempt_result	 result;
	int			 status;	/* what it alone would give */
	int			 code;		/* the deciding reply's, or 0 */
	char			 text[OUTCOME_TEXT_MAX]; /* as in outcomes */
	int64_t			 start_ms;	/* from the run's start */
	int64_t			 end_ms;
};

/* Attempts kept for --json; those past it are only counted. */
#define ATTEMPTS_MAX 128

/*
 * --all: what one MX host gave one node when that is neither the node's
 * own outcome nor another host's; report.c gives each a diagnostic, so
 * that a dead or refusing backup MX is never invisible.
 */
struct host_outcome {
	size_t		 node;		/* index into the nodes */
	struct outcome	 out;
};

/* What the run did: the attempts, and --all's other hosts' outcomes. */
struct attempts {
	struct attempt	 v[ATTEMPTS_MAX];
	size_t		 n;
	size_t		 dropped;
	int64_t		 start_ns;	/* the run's start */
	struct host_outcome *host;	/* grown as hosts fail */
	size_t		 nhost;
	size_t		 hostcap;
};

/*
 * One flow: options (etrn.c, config.c) -> the event loop (race.c: DNS
 * answers from resolve.c, connection attempts, TLS, greetings and
 * sessions, each a state machine in smtp.c over conn.c and tls.c) -> one
 * outcome per node (and per host with --all) -> report.c (result lines,
 * --json, syslog, diagnostics) -> the exit status (outcome.c).  Calls run
 * one way, down this list: etrn.c, config.c, race.c, resolve.c and
 * smtp.c, sasl.c (AUTH's mechanisms), conn.c, tls.c, report.c, then the
 * pure files (reply.c,
 * outcome.c, names.c) and util.c.  Nothing below report.c prints but the
 * -v trace.
 */

/* etrn.c */
int	 options_parse(int, char **, struct options *);
int	 server_parse(const char *, struct options *);
void	 options_free(struct options *);

/* config.c */
struct option;
bool	 config_profile_path(char *, size_t, const char *);
int	 config_read(const char *, const struct option *, struct config *);
void	 config_where(const struct config *, int);
void	 config_show(FILE *, const struct options *, const char *);

/* resolve.c */
struct dns;
int	 dns_open(struct dns **, const struct options *, int64_t, char *,
	    size_t);
void	 dns_lookup_hosts(struct dns *);
size_t	 dns_pollfds(const struct dns *, struct pollfd *, size_t);
int64_t	 dns_wake_ns(const struct dns *, int64_t);
int	 dns_process(struct dns *, const struct pollfd *, size_t);
bool	 dns_pending(const struct dns *);
bool	 dns_mx_known(const struct dns *);
size_t	 dns_nhosts(const struct dns *);
const struct dns_host *dns_host(const struct dns *, size_t);
int	 dns_host_failure(const struct dns *, size_t, char *, size_t);
int	 dns_failure(const struct dns *, char *, size_t);
void	 dns_close(struct dns *);
int	 dns_tlsa_parse(const unsigned char *, size_t, struct dane *);

/* race.c */
int	 race(const struct options *, int64_t, struct outcome *,
	    struct attempts *);

/* smtp.c: the session's states, in the order RFC 5321 walks them. */
enum smtp_state {
	SMTP_EHLO,		/* EHLO sent after the 220 greeting */
	SMTP_HELO,		/* EHLO rejected, --force: HELO sent */
	SMTP_STARTTLS,		/* --starttls: STARTTLS sent */
	SMTP_TLS,		/* its 220 came: the handshake */
	SMTP_EHLO_TLS,		/* EHLO again over TLS (RFC 3207 section 4.2) */
	SMTP_AUTH,		/* AUTH sent, then each 334 answered */
	SMTP_ETRN,		/* ETRN for one node after another */
	SMTP_QUIT,		/* the outcomes are final */
	SMTP_DONE,
};
#define SMTP_STATES (SMTP_DONE + 1)
extern const char *const smtp_state_name[SMTP_STATES];

/* What the event loop does next for a session. */
enum smtp_next {
	SMTP_SEND,		/* send smtp.cmd, then read its reply */
	SMTP_HANDSHAKE,		/* TLS handshake, then smtp_tls_done() */
	SMTP_OVER,		/* nothing more: the outcomes are final */
};

/* One session: where it is, and the command for the loop to send. */
struct smtp {
	enum smtp_state		 state;
	const struct options	*o;
	const struct peer	*peer;		/* the connection's */
	char			 prefix[PEER_NAME_MAX + 2]; /* of -v lines */
	char			 helo[DOMAIN_MAX + 16];
	struct outcome		*out;
	size_t			 n;		/* outcomes */
	size_t			 node;		/* the ETRN awaited */
	bool			 tls;		/* the connection is under TLS */
	bool			 starttls;	/* -S, or TLSA records (--dane) */
	bool			 authenticated;
	bool			 next;		/* ended before EHLO was done */
	bool			 tls_alert;	/* the loop saw a TLS alert */
	int64_t			 step_ns;	/* the reply's time */
	char			 cmd[COMMAND_LINE_MAX];	/* without CRLF */
	char			 shown[COMMAND_LINE_MAX];
	struct reply		 ehlo;		/* the last EHLO reply */
	const char		*mech;		/* AUTH's, or NULL */
	struct sasl		*sasl;		/* the exchange under way */
	char			 auth_error[OUTCOME_TEXT_MAX]; /* after "*" */
};

enum smtp_next smtp_start(struct smtp *, const struct options *,
	    const struct peer *, const char *, const char *, bool,
	    struct outcome *);
enum smtp_next smtp_reply(struct smtp *, const struct reply *);
enum smtp_next smtp_tls_done(struct smtp *);
enum smtp_next smtp_broken(struct smtp *, enum io, const char *);
void	 smtp_stop(struct smtp *, int, const char *);

/* sasl.c */
struct sasl;
const char *sasl_mech_name(const char *);
const char *sasl_choose(const struct reply *, const char *, bool, char *,
	    size_t);
int	 sasl_start(struct sasl **, const char *, const struct options *,
	    const char *, char *, size_t, char *, size_t);
int	 sasl_step(struct sasl *, const char *, char *, size_t, char *,
	    size_t);
void	 sasl_end(struct sasl *);
void	 sasl_cleanup(void);

/* conn.c */
void	 conn_init(struct conn *, int, const char *, const struct sockaddr *,
	    bool);
void	 conn_helo_name(const struct conn *, const struct options *, char *,
	    size_t);
enum io	 conn_reply_more(struct conn *, struct reply *);
enum io	 conn_send(struct conn *, const char *, const char *);
enum io	 conn_flush(struct conn *);
const char *conn_reason(const struct conn *, enum io);
void	 conn_close(struct conn *);

/* tls.c */
const char *secure_library(void);
int	 secure_setup(const struct options *, int64_t, char *, size_t);
void	 secure_cleanup(void);
enum io	 secure_start(struct conn *);
ssize_t	 secure_read(struct conn *, void *, size_t, short *);
ssize_t	 secure_write(struct conn *, const void *, size_t, short *);
void	 secure_end(struct conn *);

/* report.c */
int	 report(const struct options *, const struct outcome *, size_t,
	    const struct attempts *, int, bool);
void	 report_fatal(const struct outcome *);
bool	 json_write(FILE *, const struct options *, const struct outcome *,
	    size_t, const struct attempts *, int);
int	 report_failure(const struct options *, int, bool);
int	 output_close(bool);

/* reply.c */
size_t	 line_split(const char *, size_t, size_t *);
enum reply_error reply_line_parse(const char *, size_t, struct reply_line *);
enum reply_error reply_add(struct reply *, const struct reply_line *);
bool	 ehlo_has(const struct reply *, const char *);
bool	 ehlo_param(const struct reply *, const char *, const char *);

/* outcome.c: status_table is the man page's EXIT STATUS table. */
struct status_row {
	int		 status;
	const char	*word;		/* in result lines */
	const char	*meaning;	/* in --help */
};
extern const struct status_row status_table[];
extern const size_t status_table_len;
const char *status_word(int, bool);
int	 status_of_etrn_reply(int, bool);
int	 status_combine(const struct outcome *, size_t);
int	 status_worse(int, int);
const char *attempt_word(enum attempt_result);
struct outcome outcome_best(const struct outcome *, size_t, size_t);
bool	 host_outcomes_keep(struct attempts *, const struct outcome *, size_t,
	    size_t, const struct outcome *);
bool	 host_outcomes_retried(struct attempts *, size_t, const size_t *,
	    size_t);
void	 host_outcomes_free(struct attempts *);
bool	 status_transient(int);
const char *reply_hint(int, const char *, const char *, bool, bool,
	    char *, size_t);
int	 status_of_etrn(const struct reply *, bool);
void	 outcome_reply(struct outcome *, int, const struct peer *,
	    const struct reply *);
void	 outcome_reason(struct outcome *, int, const struct peer *,
	    const char *);

/* names.c */
bool	 domain_valid(const char *, bool, const char **);
bool	 node_valid(const char *, const char **);
bool	 helo_valid(const char *, const char **);
bool	 host_name_valid(const char *, bool, const char **);
bool	 idn_to_ascii(const char *, char *, size_t, const char **);
bool	 node_printable(const char *);

/* util.c */
bool	 addr_equal(const struct sockaddr_storage *,
	    const struct sockaddr_storage *);
int64_t	 now_ns(void);
int64_t	 deadline_min(int64_t, int64_t);
int	 poll_ms(int64_t);
size_t	 escape(char *, size_t, const char *, size_t);
size_t	 json_escape(char *, size_t, const char *, size_t);
int	 std_fds_open(void);
void	 diag(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 diag_where(const char *);
void	 trace(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 peer_set(struct peer *, const char *, const struct sockaddr *);
int	 signals_catch(void);
int	 signal_caught(void);
int	 signal_fd(void);
bool	 secret_file_private(int, char *, size_t);
extern bool verbose;

/*
 * libs.c: the optional libraries, loaded when a run needs them.  A
 * loader is called before the first call of its library's functions.
 */
bool	 libs_load_tls(char *, size_t);
const char *libs_tls_soname(void);
bool	 libs_load_idn2(char *, size_t);
bool	 libs_load_gsasl(char *, size_t);

#endif /* ETRN_H */
