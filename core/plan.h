/* Plan files: the bound and codec of every layer, as JSON that loads and
 * saves.
 *
 *   {"default": {"bound": "lossless", "codec": "auto"},
 *    "policy": "auto",
 *    "rules": [{"match": "*norm*", "bound": "lossless"},
 *              {"match": "*embed*", "bound": "abs:1e-5", "codec": "elf-m"}],
 *    "layers": {"output.weight": {"bound": "rel:1e-3"}},
 *    "codecs": {"tok_embeddings.weight": "elf-m", ...}}
 *
 * A layer takes the default, then the first rule whose glob (fnmatch(3))
 * matches its name, then its entry in "layers". "codecs" is written on save
 * to record what each layer got; loading ignores it. */
#ifndef ELVES_PLAN_H
#define ELVES_PLAN_H

#include "workspace.h"

/* Reads a plan file and applies it to every layer of one model. Nothing
 * changes unless the whole file is valid and every layer accepts it. */
int el_plan_load(el_workspace *ws, size_t model, const char *path, el_error *err);

/* Writes the model's current plan: the rules it was loaded with, an entry
 * in "layers" for each layer that differs from what they give, and the codec
 * each layer got. The write is atomic. */
int el_plan_save(const el_workspace *ws, size_t model, const char *path, el_error *err);

/* Frees the rules a workspace keeps from its last loaded plan. */
void el_plan_rules_free(el_workspace *ws);

#endif
