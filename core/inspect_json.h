/* The `inspect --json` document: an interface that scripts read, so its
 * field names are fixed. */
#ifndef ELVES_INSPECT_JSON_H
#define ELVES_INSPECT_JSON_H

#include "workspace.h"

/* Returns the document as a heap string (caller frees), or NULL with err
 * set. The workspace must be analysed. With several models the document
 * has a "dedup" object (see core/chunks.h). With a base set, each paired
 * tensor has a "base" object with its change and the delta codecs' ratios. */
char *el_inspect_json(const el_workspace *ws, el_error *err);

#endif
