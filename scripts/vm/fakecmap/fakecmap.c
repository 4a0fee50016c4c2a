/* Minimal libcmap.so.4 for mdadm 4.2 in the lab (temporary, until mdcluster ships its own shim).
 *
 * mdadm 4.2 dlopen()s corosync's libcmap.so.4 when it creates or manages a clustered array and
 * asks it for "totem.cluster_name", ignoring --home-cluster and HOMECLUSTER. The lab guests run no
 * corosync, so this answers that one key with $MD_CLUSTER_NAME, or "mdlab". CS_OK is 1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t cmap_handle_t;

int cmap_initialize(cmap_handle_t *handle) { *handle = 1; return 1; }

int cmap_get_string(cmap_handle_t handle, const char *key, char **value)
{
	const char *name = getenv("MD_CLUSTER_NAME");
	(void)handle;
	if (strcmp(key, "totem.cluster_name") != 0)
		return 12; /* CS_ERR_NOT_EXIST */
	*value = strdup(name && *name ? name : "mdlab");
	return *value ? 1 : 2;
}

int cmap_finalize(cmap_handle_t handle) { (void)handle; return 1; }
