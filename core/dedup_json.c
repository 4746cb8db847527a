#include "chunks.h"

#include <cjson/cJSON.h>

static cJSON *number(uint64_t v)
{
    return cJSON_CreateNumber((double)v);
}

static cJSON *counts_json(const el_chunk_counts *c)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddItemToObject(o, "bytes", number(c->bytes));
    cJSON_AddItemToObject(o, "chunks", number(c->chunks));
    cJSON_AddItemToObject(o, "duplicate_bytes", number(c->dup_bytes));
    cJSON_AddItemToObject(o, "duplicate_chunks", number(c->dup_chunks));
    cJSON_AddItemToObject(o, "cross_model_bytes", number(c->cross_bytes));
    cJSON_AddItemToObject(o, "cross_model_chunks", number(c->cross_chunks));
    return o;
}

static cJSON *granularities_json(const el_model_dedup *md)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddItemToObject(o, "tensor", counts_json(&md->tensor));
    cJSON_AddItemToObject(o, "cdc", counts_json(&md->cdc));
    cJSON_AddItemToObject(o, "fixed", counts_json(&md->fixed));
    return o;
}

static cJSON *repeats_json(const el_repeat_counts *c)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddItemToObject(o, "elements", number(c->elements));
    cJSON_AddItemToObject(o, "repeated", number(c->repeated));
    cJSON_AddItemToObject(o, "repeated_bytes", number(c->repeated_bytes));
    return o;
}

static cJSON *parameters_json(const el_dedup_report *r)
{
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddItemToObject(o, "min_size", number(r->cdc.min_size));
    cJSON_AddItemToObject(o, "avg_size", number(r->cdc.avg_size));
    cJSON_AddItemToObject(o, "max_size", number(r->cdc.max_size));
    cJSON_AddItemToObject(o, "normalization", number(EL_CDC_NORMALIZATION));
    return o;
}

static cJSON *chunks_json(const el_dedup_report *r, const el_model *const *models)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(o, "models");
    for (size_t m = 0; list != NULL && m < r->n_models; m++) {
        cJSON *item = granularities_json(&r->models[m]);
        cJSON_AddStringToObject(item, "path", models[m]->path);
        cJSON_AddItemToArray(list, item);
    }
    cJSON_AddItemToObject(o, "total", granularities_json(&r->total));
    return o;
}

static cJSON *repeated_values_json(const el_dedup_report *r,
                                   const el_model *const *models)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(o, "models");
    for (size_t m = 0; list != NULL && m < r->n_models; m++) {
        const el_model_dedup *md = &r->models[m];
        cJSON *item = repeats_json(&md->repeats);
        cJSON_AddStringToObject(item, "path", models[m]->path);

        cJSON *tensors = cJSON_AddArrayToObject(item, "tensors");
        for (size_t t = 0; tensors != NULL && t < models[m]->n_tensors; t++) {
            cJSON *ti = repeats_json(&md->tensor_repeats[t]);
            cJSON_AddStringToObject(ti, "name", models[m]->tensors[t].name);
            cJSON_AddItemToArray(tensors, ti);
        }
        cJSON_AddItemToArray(list, item);
    }
    cJSON_AddItemToObject(o, "total", repeats_json(&r->total.repeats));
    return o;
}

static cJSON *shared_json(const el_dedup_report *r, const el_model *const *models)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *paths = cJSON_AddArrayToObject(o, "models");
    cJSON *rows = cJSON_AddArrayToObject(o, "bytes");
    for (size_t i = 0; paths != NULL && rows != NULL && i < r->n_models; i++) {
        cJSON_AddItemToArray(paths, cJSON_CreateString(models[i]->path));
        cJSON *row = cJSON_CreateArray();
        for (size_t j = 0; row != NULL && j < r->n_models; j++)
            cJSON_AddItemToArray(row, number(r->shared_bytes[i * r->n_models + j]));
        cJSON_AddItemToArray(rows, row);
    }
    return o;
}

static cJSON *tensor_groups_json(const el_dedup_report *r,
                                 const el_model *const *models)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t g = 0; list != NULL && g < r->n_tensor_groups; g++) {
        const el_tensor_group *tg = &r->tensor_groups[g];
        const el_tensor_ref first = tg->copies[0];
        cJSON *item = cJSON_CreateObject();
        cJSON_AddItemToObject(item, "bytes", number(tg->nbytes));
        cJSON_AddStringToObject(item, "dtype",
                                el_tensor_type(&models[first.model]->tensors[first.tensor]));

        cJSON *copies = cJSON_AddArrayToObject(item, "copies");
        for (size_t c = 0; copies != NULL && c < tg->n_copies; c++) {
            const el_tensor_ref ref = tg->copies[c];
            cJSON *copy = cJSON_CreateObject();
            cJSON_AddItemToObject(copy, "model", number(ref.model));
            cJSON_AddStringToObject(copy, "tensor", models[ref.model]->tensors[ref.tensor].name);
            cJSON_AddItemToArray(copies, copy);
        }
        cJSON_AddItemToArray(list, item);
    }
    return list;
}

static cJSON *chunk_groups_json(const el_dedup_report *r,
                                const el_model *const *models)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t g = 0; list != NULL && g < r->n_chunk_groups; g++) {
        const el_chunk_group *cg = &r->chunk_groups[g];
        char hex[33];
        el_hash128_hex(cg->hash, hex);

        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "xxh3_128", hex);
        cJSON_AddItemToObject(item, "size", number(cg->size));
        cJSON_AddItemToObject(item, "copies_total", number(cg->n_copies));
        cJSON_AddItemToObject(item, "duplicate_bytes", number(cg->dup_bytes));

        cJSON *copies = cJSON_AddArrayToObject(item, "copies");
        for (size_t c = 0; copies != NULL && c < cg->n_listed; c++) {
            const el_chunk_ref ref = cg->copies[c];
            cJSON *copy = cJSON_CreateObject();
            cJSON_AddItemToObject(copy, "model", number(ref.model));
            cJSON_AddStringToObject(copy, "tensor", models[ref.model]->tensors[ref.tensor].name);
            cJSON_AddItemToObject(copy, "offset", number(ref.offset));
            cJSON_AddItemToArray(copies, copy);
        }
        cJSON_AddItemToArray(list, item);
    }
    return list;
}

cJSON *el_dedup_json(const el_dedup_report *r, const el_model *const *models,
                     size_t n_models)
{
    if (n_models != r->n_models)
        return NULL;

    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;

    cJSON_AddItemToObject(o, "cdc", parameters_json(r));
    cJSON_AddItemToObject(o, "fixed_size", number(r->fixed_size));
    cJSON_AddItemToObject(o, "tensor_groups", tensor_groups_json(r, models));
    cJSON_AddItemToObject(o, "chunk_groups", chunk_groups_json(r, models));
    cJSON_AddItemToObject(o, "chunks", chunks_json(r, models));
    cJSON_AddItemToObject(o, "repeated_values", repeated_values_json(r, models));
    cJSON_AddItemToObject(o, "shared_bytes", shared_json(r, models));

    /* cJSON drops NULL items silently, so check that every part was added. */
    if (cJSON_GetArraySize(o) != 7) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
