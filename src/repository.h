/* repository.h: the models of an API as the daemon sees them on disk, for
 * the Open Inference Protocol's model-repository extension
 * (docs/protocols.md, "Model repository"), and the control file through
 * which the daemon tells an API's workers which models are unloaded.
 *
 * The workers' own view (glia._models) decides what is served; this one
 * only names what exists: models.path (one model, no name), every
 * models.paths entry, every subdirectory of models.dir. */
#ifndef GLIA_REPOSITORY_H
#define GLIA_REPOSITORY_H

#include <jansson.h>

#include "config.h"

/* [{"name": model or "" for models.path, "version": latest version as
 * text or ""}], sorted by name; project_dir resolves relative paths. */
json_t *glia_repo_models(const glia_api_spec *spec, const char *project_dir);

/* 1 when model (a name, "" for models.path) is in list. */
int glia_repo_has_model(json_t *list, const char *model);

/* Writes {"unloaded": [names]} to path atomically
 * (glia_write_file_private: a fresh 0600 temporary file, fsync'd, renamed
 * over it). 0 or -1 (errno set). */
int glia_repo_write_control(const char *path, json_t *unloaded);

#endif
