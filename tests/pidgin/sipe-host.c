/*
 * sipe-host: signs one pidgin-sipe account in, headless, and says how it ended.
 *
 * A libpurple host in the manner of libpurple's example nullclient.c: a GLib main loop, no
 * user interface, the protocol plugin `prpl-sipe` as Debian installs it, unmodified. It prints
 * `signed-on` when the account is connected, or `connection-error: <text>` with the text
 * pidgin-sipe gives the user, and exits (0 on sign-on, 1 on an error, 2 on a timeout or a
 * usage error). Any question libpurple would ask the user (an untrusted certificate, ...) is
 * printed as `request: <title>: <text>` and refused.
 *
 * usage: sipe-host USER PASSWORD [USER-AGENT] [SECONDS]
 * Environment: SIPE_HOST_HOME, a folder for libpurple's settings (a fresh one per run).
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

static PurpleEventLoopUiOps event_loop = {
	.timeout_add = g_timeout_add,
	.timeout_remove = g_source_remove,
	.input_add = input_add,
	.input_remove = g_source_remove,
	.timeout_add_seconds = g_timeout_add_seconds,
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
	finish(0);
}

static void connection_error(PurpleConnection *gc, PurpleConnectionError err,
			     const gchar *desc, gpointer data)
{
	(void)gc;
	(void)err;
	(void)data;
	printf("connection-error: %s\n", desc ? desc : "");
	fflush(stdout);
	finish(1);
}

/* Every question is answered "no": the test must not depend on anyone's answer. */
static void *request_action(const char *title, const char *primary, const char *secondary,
			    int default_action, PurpleAccount *account, const char *who,
			    PurpleConversation *conv, void *user_data, size_t action_count,
			    va_list actions)
{
	(void)default_action; (void)account; (void)who; (void)conv; (void)user_data;
	(void)action_count; (void)actions;
	printf("request: %s: %s %s\n", title ? title : "", primary ? primary : "",
	       secondary ? secondary : "");
	fflush(stdout);
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
	purple_account_set_string(account, "server", "");
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
