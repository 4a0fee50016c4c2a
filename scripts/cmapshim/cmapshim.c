/* libcmap.so.4 shim: lets mdadm 4.2 create and manage md-cluster arrays without corosync.
 *
 * Why it exists: mdadm 4.2 dlopen()s corosync's libcmap.so.4 whenever it creates, manages or
 * grows a clustered array and asks it for "totem.cluster_name" (it ignores --home-cluster and
 * HOMECLUSTER). Without corosync it fails with "The md can't get cluster name". mdclusterd runs
 * the kernel DLM itself, so the name lives in its configuration: this shim answers that one key
 * with the agent's cluster.name and nothing else.
 *
 * Where it goes: a private directory (e.g. /usr/lib/mdcluster/cmapshim), never the system
 * library path, so that a real corosync on the same host is not shadowed. Only the mdadm that
 * mdcadm runs gets that directory in LD_LIBRARY_PATH (the lab's scenarios set it likewise).
 *
 * The name comes from $MDCLUSTER_CLUSTER_NAME, else from cluster.name in $MDCLUSTER_CONFIG
 * (default /etc/mdcluster/mdclusterd.yaml; block "cluster:\n  name: X" or flow
 * "cluster: {name: X}"). Corosync's codes: CS_OK 1, CS_ERR_LIBRARY 2, CS_ERR_NOT_EXIST 12. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t cmap_handle_t;

enum { CS_OK = 1, CS_ERR_LIBRARY = 2, CS_ERR_NOT_EXIST = 12 };

/* valid_name accepts what mdclusterd's configuration accepts: 1-63 of [A-Za-z0-9._-]. */
static int valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

/* scalar copies a YAML scalar starting at p into out, without quotes, comment or separators. */
static void scalar(const char *p, char *out, size_t size)
{
	size_t n = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	char quote = (*p == '"' || *p == '\'') ? *p++ : 0;
	while (*p && n + 1 < size) {
		if (quote ? *p == quote : strchr(" \t,}#\r\n", *p) != NULL)
			break;
		out[n++] = *p++;
	}
	out[n] = 0;
}

/* name_from_config finds cluster.name in the agent's YAML configuration. */
static int name_from_config(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int in_cluster = 0;
	out[0] = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		if (line[0] != ' ' && line[0] != '\t' && line[0] != '#' && line[0] != '\n') {
			in_cluster = strncmp(line, "cluster:", 8) == 0;
			char *flow = in_cluster ? strchr(line, '{') : NULL;
			char *key = flow ? strstr(flow, "name:") : NULL;
			if (key) {
				scalar(key + 5, out, size);
				break;
			}
			continue;
		}
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (in_cluster && strncmp(p, "name:", 5) == 0) {
			scalar(p + 5, out, size);
			break;
		}
	}
	fclose(f);
	return out[0] != 0;
}

int cmap_initialize(cmap_handle_t *handle)
{
	*handle = 1;
	return CS_OK;
}

int cmap_get_string(cmap_handle_t handle, const char *key, char **value)
{
	char name[128] = "";
	const char *env = getenv("MDCLUSTER_CLUSTER_NAME");
	const char *cfg = getenv("MDCLUSTER_CONFIG");
	(void)handle;
	if (strcmp(key, "totem.cluster_name") != 0)
		return CS_ERR_NOT_EXIST;
	if (env && *env)
		snprintf(name, sizeof name, "%s", env);
	else if (!name_from_config(cfg && *cfg ? cfg : "/etc/mdcluster/mdclusterd.yaml", name, sizeof name))
		return CS_ERR_NOT_EXIST;
	if (!valid_name(name))
		return CS_ERR_NOT_EXIST;
	*value = strdup(name);
	return *value ? CS_OK : CS_ERR_LIBRARY;
}

int cmap_finalize(cmap_handle_t handle)
{
	(void)handle;
	return CS_OK;
}
