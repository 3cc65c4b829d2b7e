/* repository.c: see repository.h. */
#include "repository.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define MAX_ENTRIES 100000 /* directory entries looked at, per directory */

static char *resolve(const char *project_dir, const char *path)
{
	if (path[0] == '/' || !project_dir)
		return glia_strdup(path);
	return glia_sprintf("%s/%s", project_dir, path);
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int dir_has_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d)) != NULL)
		found =
		    strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return found;
}

/* The highest non-empty integer-named subdirectory of a model path as
 * text, or "" when the model is not versioned (or is a file or a URL). */
static void latest_version(const char *path, char *out, size_t n)
{
	DIR *d = opendir(path);
	struct dirent *e;
	long long best = -1;
	int seen = 0;

	out[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d)) != NULL && seen++ < MAX_ENTRIES) {
		if (!all_digits(e->d_name) || strlen(e->d_name) > 18)
			continue;
		char *sub = glia_sprintf("%s/%s", path, e->d_name);
		long long v = strtoll(e->d_name, NULL, 10);
		if (v > best && is_dir(sub) && dir_has_entries(sub))
			best = v;
		free(sub);
	}
	closedir(d);
	if (best >= 0)
		snprintf(out, n, "%lld", best);
}

static void add_model(json_t *list, const char *name, const char *path,
                      const char *project_dir)
{
	char version[24] = "";

	if (!glia_is_url(path)) {
		char *full = resolve(project_dir, path);
		latest_version(full, version, sizeof version);
		free(full);
	}
	json_array_append_new(
	    list, json_pack("{s:s, s:s}", "name", name, "version", version));
}

static int valid_model_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!strchr(
		        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		        "0123456789-_",
		        *s))
			return 0;
	return 1;
}

/* The models of a local models.dir (an s3:// prefix is listed by the
 * replicas, not here). */
static void add_dir_models(json_t *list, const char *dir,
                           const char *project_dir)
{
	if (glia_is_url(dir))
		return;
	char *full = resolve(project_dir, dir);
	DIR *d = opendir(full);
	struct dirent *e;
	int seen = 0;

	while (d && (e = readdir(d)) != NULL && seen++ < MAX_ENTRIES) {
		if (e->d_name[0] == '.' || !valid_model_name(e->d_name))
			continue;
		char *sub = glia_sprintf("%s/%s", full, e->d_name);
		if (is_dir(sub))
			add_model(list, e->d_name, sub, NULL);
		free(sub);
	}
	if (d)
		closedir(d);
	free(full);
}

static int by_name(const void *a, const void *b)
{
	json_t *const *x = a, *const *y = b;
	return strcmp(json_string_value(json_object_get(*x, "name")),
	              json_string_value(json_object_get(*y, "name")));
}

static void sort_by_name(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **items = glia_calloc(n ? n : 1, sizeof(*items));

	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(list, i));
	qsort(items, n, sizeof(*items), by_name);
	json_array_clear(list);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, items[i]);
	free(items);
}

json_t *glia_repo_models(const glia_api_spec *spec, const char *project_dir)
{
	const glia_models *m = &spec->predictor.models;
	json_t *list = json_array();

	if (!m->set)
		return list;
	if (m->path)
		add_model(list, "", m->path, project_dir);
	for (size_t i = 0; i < m->n_paths; i++)
		add_model(list, m->paths[i].name, m->paths[i].path,
		          project_dir);
	if (m->dir)
		add_dir_models(list, m->dir, project_dir);
	sort_by_name(list);
	return list;
}

int glia_repo_has_model(json_t *list, const char *model)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		const char *name =
		    json_string_value(json_object_get(v, "name"));
		if (name && strcmp(name, model) == 0)
			return 1;
	}
	return 0;
}

int glia_repo_write_control(const char *path, json_t *unloaded)
{
	json_t *doc = json_pack("{s:O}", "unloaded", unloaded);
	char *text = json_dumps(doc, JSON_COMPACT);
	int rc = text ? glia_write_file_private(path, text, strlen(text)) : -1;

	json_decref(doc);
	free(text);
	return rc;
}
