/*
 * sipe-host: signs one pidgin-sipe account in, headless, and says how it ended.
 *
 * A libpurple host in the manner of libpurple's example nullclient.c: a GLib main loop, no
 * user interface, the protocol plugin `prpl-sipe` as Debian installs it, unmodified. It prints
 * `signed-on` when the account is connected, or `connection-error: <text>` with the text
 * pidgin-sipe gives the user (a line break in it written as `\n`), and exits (0 on sign-on, 1 on an error, 2 on a timeout or a
 * usage error). Any question libpurple would ask the user (an untrusted certificate, ...) is
 * printed as `request: <title>: <text>` (one line, as above) and answered no.
 *
 * With SIPE_HOST_STAY set it stays signed in after `signed-on` and reads its standard input:
 * the line `advance SECONDS` moves pidgin-sipe's clock on (its timers are the host's to run),
 * so that what it does later in a session, such as re-registering two hours on, happens now,
 * on the test's cue, without anyone waiting for it.
 *
 * usage: sipe-host USER PASSWORD [USER-AGENT] [SECONDS]
 * Environment: SIPE_HOST_HOME, a folder for libpurple's settings (a fresh one per run);
 * SIPE_HOST_STAY (see above); SIPE_HOST_SERVER, a registrar to go to (host:port) in place of
 * discovering one; SIPE_HOST_DEBUG, libpurple's debug log.
 */
#include <purple.h>

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define READ_COND (G_IO_IN | G_IO_HUP | G_IO_ERR)
#define WRITE_COND (G_IO_OUT | G_IO_HUP | G_IO_ERR | G_IO_NVAL)

typedef struct {
	PurpleInputFunction function;
	guint result;
	gpointer data;
} IoClosure;

static GMainLoop *loop;
static int status = 2;

static void io_destroy(gpointer data) { g_free(data); }

static gboolean io_invoke(GIOChannel *source, GIOCondition condition, gpointer data)
{
	IoClosure *closure = data;
	int purple_cond = 0;
	if (condition & READ_COND)
		purple_cond |= PURPLE_INPUT_READ;
	if (condition & WRITE_COND)
		purple_cond |= PURPLE_INPUT_WRITE;
	closure->function(closure->data, g_io_channel_unix_get_fd(source), purple_cond);
	return TRUE;
}

static guint input_add(gint fd, PurpleInputCondition condition, PurpleInputFunction function,
		       gpointer data)
{
	IoClosure *closure = g_new0(IoClosure, 1);
	GIOChannel *channel;
	int cond = 0;
	closure->function = function;
	closure->data = data;
	if (condition & PURPLE_INPUT_READ)
		cond |= READ_COND;
	if (condition & PURPLE_INPUT_WRITE)
		cond |= WRITE_COND;
	channel = g_io_channel_unix_new(fd);
	closure->result = g_io_add_watch_full(channel, G_PRIORITY_DEFAULT, cond, io_invoke,
					      closure, io_destroy);
	g_io_channel_unref(channel);
	return closure->result;
}

/* The protocol's timers, kept so that the test can move their clock on. */
typedef struct {
	guint id;
	GSourceFunc func;
	gpointer data;
	guint interval_ms;
	guint armed_ms;
	gint64 due_us;
	guint source;
} Timer;

static GHashTable *timers;
static guint next_timer = 1;

static gboolean timer_fire(gpointer p);

static void timer_arm(Timer *t, guint delay_ms)
{
	t->armed_ms = delay_ms;
	t->due_us = g_get_monotonic_time() + (gint64)delay_ms * 1000;
	t->source = g_timeout_add(delay_ms, timer_fire, t);
}

static gboolean timer_fire(gpointer p)
{
	Timer *t = p;
	guint id = t->id;
	gboolean again = t->func(t->data);
	/* The callback may have removed its own timer (and so freed it). */
	if (!g_hash_table_lookup(timers, GUINT_TO_POINTER(id)))
		return FALSE;
	if (!again) {
		g_hash_table_remove(timers, GUINT_TO_POINTER(id));
		return FALSE;
	}
	if (t->armed_ms != t->interval_ms) {
		/* It fired early once (the clock was moved on); it repeats at its own pace. */
		timer_arm(t, t->interval_ms);
		return FALSE;
	}
	t->due_us = g_get_monotonic_time() + (gint64)t->interval_ms * 1000;
	return TRUE;
}

static guint timeout_add(guint interval_ms, GSourceFunc func, gpointer data)
{
	Timer *t = g_new0(Timer, 1);
	t->id = next_timer++;
	t->func = func;
	t->data = data;
	t->interval_ms = interval_ms;
	g_hash_table_insert(timers, GUINT_TO_POINTER(t->id), t);
	timer_arm(t, interval_ms);
	return t->id;
}

static guint timeout_add_seconds(guint seconds, GSourceFunc func, gpointer data)
{
	return timeout_add(seconds * 1000, func, data);
}

static gboolean timeout_remove(guint id)
{
	Timer *t = g_hash_table_lookup(timers, GUINT_TO_POINTER(id));
	if (!t)
		return FALSE;
	g_source_remove(t->source);
	g_hash_table_remove(timers, GUINT_TO_POINTER(id));
	return TRUE;
}

/* Moves the protocol's clock on by `seconds`: every pending timer due within them fires now,
 * the others come that much sooner. Timers set afterwards run at their own pace. */
static void advance(guint seconds)
{
	GHashTableIter iter;
	gpointer key, value;
	gint64 now = g_get_monotonic_time();
	g_hash_table_iter_init(&iter, timers);
	while (g_hash_table_iter_next(&iter, &key, &value)) {
		Timer *t = value;
		gint64 left_ms = (t->due_us - now) / 1000 - (gint64)seconds * 1000;
		g_source_remove(t->source);
		timer_arm(t, left_ms > 0 ? (guint)left_ms : 0);
	}
}

static gboolean read_cue(GIOChannel *source, GIOCondition condition, gpointer data)
{
	gchar *line = NULL;
	(void)condition;
	(void)data;
	if (g_io_channel_read_line(source, &line, NULL, NULL, NULL) != G_IO_STATUS_NORMAL) {
		g_free(line);
		return FALSE;
	}
	if (g_str_has_prefix(line, "advance "))
		advance((guint)atoi(line + strlen("advance ")));
	g_free(line);
	return TRUE;
}

static PurpleEventLoopUiOps event_loop = {
	.timeout_add = timeout_add,
	.timeout_remove = timeout_remove,
	.input_add = input_add,
	.input_remove = g_source_remove,
	.timeout_add_seconds = timeout_add_seconds,
};

static void finish(int code)
{
	status = code;
	g_main_loop_quit(loop);
}

static void signed_on(PurpleConnection *gc, gpointer data)
{
	(void)gc;
	(void)data;
	printf("signed-on\n");
	fflush(stdout);
	if (getenv("SIPE_HOST_STAY")) {
		GIOChannel *in = g_io_channel_unix_new(0);
		g_io_add_watch(in, G_IO_IN | G_IO_HUP, read_cue, NULL);
		g_io_channel_unref(in);
		return;
	}
	finish(0);
}

static void connection_error(PurpleConnection *gc, PurpleConnectionError err,
			     const gchar *desc, gpointer data)
{
	(void)gc;
	(void)err;
	(void)data;
	/* One line per outcome: a line break in the text (pidgin-sipe puts the service's own
	 * words on a second line, in parentheses) is written as the two characters \n. */
	gchar **lines = g_strsplit(desc ? desc : "", "\n", -1);
	gchar *one = g_strjoinv("\\n", lines);
	printf("connection-error: %s\n", one);
	g_free(one);
	g_strfreev(lines);
	fflush(stdout);
	finish(1);
}

/* A refusal, given from the main loop once the question has been asked. */
struct refusal {
	PurpleRequestActionCb cb;
	void *user_data;
	int index;
};

static gboolean refuse(gpointer data)
{
	struct refusal *r = data;
	r->cb(r->user_data, r->index);
	g_free(r);
	return FALSE;
}

/* Every question is answered "no" (its Cancel, Reject or No action), as a careful user
 * answers an untrusted certificate: the test must not depend on anyone's judgement. */
static void *request_action(const char *title, const char *primary, const char *secondary,
			    int default_action, PurpleAccount *account, const char *who,
			    PurpleConversation *conv, void *user_data, size_t action_count,
			    va_list actions)
{
	(void)default_action; (void)account; (void)who; (void)conv;
	gchar *text = g_strdup_printf("%s: %s %s", title ? title : "", primary ? primary : "",
				      secondary ? secondary : "");
	gchar **lines = g_strsplit(text, "\n", -1);
	gchar *one = g_strjoinv("\\n", lines);
	printf("request: %s\n", one);
	g_free(one);
	g_strfreev(lines);
	g_free(text);
	fflush(stdout);
	for (size_t i = 0; i < action_count; i++) {
		const char *label = va_arg(actions, const char *);
		PurpleRequestActionCb cb = va_arg(actions, PurpleRequestActionCb);
		gchar *plain = purple_strreplace(label ? label : "", "_", "");
		gboolean no = g_ascii_strcasecmp(plain, "Cancel") == 0 ||
			g_ascii_strcasecmp(plain, "Reject") == 0 ||
			g_ascii_strcasecmp(plain, "No") == 0;
		g_free(plain);
		if (no && cb) {
			struct refusal *r = g_new0(struct refusal, 1);
			r->cb = cb;
			r->user_data = user_data;
			r->index = (int)i;
			g_idle_add(refuse, r);
			break;
		}
	}
	return NULL;
}

static PurpleRequestUiOps request_ops = {
	.request_action = request_action,
};

static gboolean timed_out(gpointer data)
{
	(void)data;
	printf("timeout\n");
	fflush(stdout);
	finish(2);
	return FALSE;
}

int main(int argc, char **argv)
{
	PurpleAccount *account;
	PurpleSavedStatus *online;
	static int handle;
	const char *home = getenv("SIPE_HOST_HOME");
	int seconds = argc > 4 ? atoi(argv[4]) : 60;

	if (argc < 3 || !home) {
		fprintf(stderr, "usage: SIPE_HOST_HOME=DIR sipe-host USER PASSWORD [USER-AGENT] [SECONDS]\n");
		return 2;
	}
	loop = g_main_loop_new(NULL, FALSE);
	timers = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	purple_util_set_user_dir(home);
	purple_debug_set_enabled(getenv("SIPE_HOST_DEBUG") != NULL);
	purple_eventloop_set_ui_ops(&event_loop);
	purple_request_set_ui_ops(&request_ops);
	if (!purple_core_init("sipe-host")) {
		fprintf(stderr, "libpurple did not initialize\n");
		return 2;
	}
	purple_set_blist(purple_blist_new());
	purple_blist_load();
	purple_prefs_load();
	purple_plugins_load_saved("/sipe-host/plugins");
	if (!purple_find_prpl("prpl-sipe")) {
		fprintf(stderr, "the prpl-sipe plugin is not installed (Debian package pidgin-sipe)\n");
		return 2;
	}

	account = purple_account_new(argv[1], "prpl-sipe");
	purple_account_set_password(account, argv[2]);
	/* Empty: pidgin-sipe finds the server itself (Autodiscover, then DNS). */
	purple_account_set_string(account, "server",
				  getenv("SIPE_HOST_SERVER") ? getenv("SIPE_HOST_SERVER") : "");
	purple_account_set_string(account, "transport", "tls");
	purple_account_set_string(account, "authentication", "tls-dsk");
	if (argc > 3 && argv[3][0])
		purple_account_set_string(account, "useragent", argv[3]);
	purple_accounts_add(account);
	purple_account_set_enabled(account, "sipe-host", TRUE);

	purple_signal_connect(purple_connections_get_handle(), "signed-on", &handle,
			      PURPLE_CALLBACK(signed_on), NULL);
	purple_signal_connect(purple_connections_get_handle(), "connection-error", &handle,
			      PURPLE_CALLBACK(connection_error), NULL);
	online = purple_savedstatus_new(NULL, PURPLE_STATUS_AVAILABLE);
	purple_savedstatus_activate(online);
	g_timeout_add_seconds(seconds, timed_out, NULL);

	g_main_loop_run(loop);
	return status;
}
