/* Functions the workspace's files share and nothing else calls. */
#ifndef ELVES_WORKSPACE_INTERNAL_H
#define ELVES_WORKSPACE_INTERNAL_H

#include "workspace.h"

/* Predicts every delta codec for a layer against its base tensor and sets
 * chosen_delta; clears both when the layer has no base tensor. */
int el_predict_deltas(el_workspace *ws, size_t m, size_t t, el_error *err);

/* Sets chosen_delta from the layer's delta predictions: the best delta
 * that honours the bound and beats the standalone choice, for auto layers
 * under the auto policy. */
void el_choose_delta(const el_workspace *ws, el_layer *layer);

/* Sets what each policy would pick from the layer's predictions, and the
 * layer's choice under the workspace's policy (or its fixed codec). */
void el_layer_choose(const el_workspace *ws, el_layer *layer);

#endif
