/* paths.h - confine the paths of a submitted spec (the daemon's file-system boundary).
 *
 * Whoever holds the token may submit a spec, and a spec names files: its inputs
 * (task.path, task.test_path, model.init) and its output folder (out_dir). The daemon
 * reads and writes them with its own rights, so without a boundary a token holder could
 * read any file the daemon can (the token file, /etc/shadow) or overwrite any folder.
 *
 * Inputs must resolve (realpath: every symbolic link followed) to a regular file inside one
 * of the input roots (--data-root, and the runs root so that a finished experiment's
 * model.bin can start another). The spec is rewritten to the resolved path, so the workers
 * open exactly the file that was checked.
 *
 * Outputs: out_dir is a folder name relative to the runs root (--runs); absolute paths,
 * "..", and symbolic links on the way are refused; the folder must not exist yet (each
 * experiment gets a new folder). paths_own_folder() then creates it at claim time without
 * following links and records which experiment owns it.
 *
 * Error messages name the field and the path, never anything read from a file.
 */
#ifndef TRICE_CONTROL_PATHS_H
#define TRICE_CONTROL_PATHS_H

#include <stddef.h>

#include "common/spec/spec.h"
#include "common/util/err.h"

#define PATHS_MAX_ROOTS 16
#define PATHS_OWNER_FILE ".trice-experiment"

typedef struct paths_roots {
    char runs[SPEC_PATH_MAX];                     /* realpath of the runs root */
    char inputs[PATHS_MAX_ROOTS][SPEC_PATH_MAX];  /* realpaths of the data roots */
    int n_inputs;
} paths_roots;

/* Create the runs root if needed and resolve every root. Data roots must exist. */
int paths_roots_init(paths_roots *r, const char *runs_root, const char *const *data_roots, int n_data_roots,
                     tr_error *err);

/* Check and rewrite s->task.path, s->task.test_path and s->model.init (see above). */
int paths_confine_inputs(const paths_roots *r, experiment_spec *s, tr_error *err);

/* The folder for a new experiment: s->out_dir (relative to the runs root) or, when empty,
 * default_name. out gets the absolute folder (cap bytes). Refuses an existing folder. */
int paths_new_out_dir(const paths_roots *r, const char *out_dir, const char *default_name, char *out, size_t cap,
                      tr_error *err);

/* At claim time: create dir (its parent must be a real folder under the runs root, reached
 * without symbolic links) and make sure it belongs to experiment id: a folder holding another
 * experiment's owner file is refused. */
int paths_own_folder(const char *dir, const char *id, tr_error *err);

#endif
