/* `elves inspect`: statistics, duplicates and predicted ratios, as a table
 * for people or as JSON for scripts. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/container_read.h"
#include "../core/inspect_json.h"
#include "../core/workspace.h"
#include "cli.h"

static void inspect_usage(FILE *out)
{
    fputs("Usage: elves inspect MODEL... [--json] [--bound B] [--base BASE] [--level N] [-T N]\n"
          "       elves inspect IN.elves... [--json]\n"
          "\n"
          "Prints every tensor's dtype, shape, size, share of |w| < 1, exponent\n"
          "entropy, duplicate and the predicted ratio of each codec (original bytes\n"
          "over compressed bytes; '~' marks a figure estimated from a sample).\n"
          "Given .elves containers, lists their tensors instead: dtype, shape, size,\n"
          "codec, bound, stored bytes, ratio and the error measured at export, the\n"
          "names that `elves restore --tensor` takes; --json prints them as one\n"
          "document.\n"
          "\n"
          "  --json       print one JSON document instead of tables\n"
          "  --bound B    bound for every layer: lossless (default), abs:E or rel:R\n"
          "  --base BASE  also open BASE and predict each layer as a delta against\n"
          "               its layer of the same name (fine-tunes)\n"
          "  --level N    zstd level of every zstd stage, 1-19 (default 3)\n"
          "  -T N         analyse on N threads (default: every core)\n"
          "  -h, --help   show this help\n", out);
}

static void print_model(const el_workspace *ws, size_t m)
{
    const el_model *model = &ws->models[m];
    char size[32];
    printf("%s  (%s, %zu file%s, %llu parameters, %s)\n", model->path, model->format,
           model->n_files, model->n_files == 1 ? "" : "s",
           (unsigned long long)el_model_parameters(model),
           el_format_bytes(el_model_tensor_bytes(model), size, sizeof size));

    if (model->metadata_json != NULL)
        printf("metadata: %s\n", model->metadata_json);
    printf("predicted ratio:");
    for (size_t i = 0; el_codecs[i] != NULL; i++) {
        double ratio = el_model_predicted_ratio(ws, m, el_codecs[i]);
        if (ratio > 0)
            printf("  %s %.3f", el_codecs[i]->name, ratio);
        else
            printf("  %s -", el_codecs[i]->name);
    }
    printf("\npredicted ratio per policy:");
    for (int p = 0; p < EL_POLICY_COUNT; p++)
        printf("  %s %.3f", el_policy_name((el_policy)p),
               el_model_policy_ratio(ws, m, (el_policy)p));
    printf("\n\n");

    printf("%-40s %-5s %-16s %10s %6s %6s", "tensor", "dtype", "shape", "bytes", "|w|<1",
           "H(exp)");
    for (size_t i = 0; el_codecs[i] != NULL; i++)
        printf(" %9s", el_codecs[i]->name);
    printf(" %9s %9s  duplicate of\n", "auto", "paper");

    for (size_t t = 0; t < model->n_tensors; t++) {
        const el_tensor *tensor = &model->tensors[t];
        const el_layer *layer = &ws->layers[m][t];
        char shape[64];
        el_shape_format(tensor, shape, sizeof shape);
        double share = layer->stats.count
            ? (double)layer->stats.abs_lt_1 / (double)layer->stats.count : 0;

        printf("%-40s %-5s %-16s %10llu %6.3f", tensor->name, el_tensor_type(tensor),
               shape, (unsigned long long)tensor->nbytes, share);
        if (layer->stats.exponent_hist != NULL)
            printf(" %6.2f", layer->stats.exponent_entropy);
        else
            printf(" %6s", "-");
        for (size_t i = 0; el_codecs[i] != NULL; i++) {
            const el_prediction *p = &layer->pred[i];
            if (p->applicable)
                printf(" %s%8.3f", p->estimated ? "~" : " ", p->ratio);
            else
                printf(" %9s", "-");
        }
        for (int p = 0; p < EL_POLICY_COUNT; p++) {
            int choice = layer->policy_choice[p];
            if (choice >= 0)
                printf(" %9s", el_codecs[choice]->name);
            else
                printf(" %9s", "-");
        }
        if (layer->dup.is_duplicate) {
            const el_model *other = &ws->models[layer->dup.of.model];
            printf("  %s%s%s", layer->dup.of.model != m ? other->path : "",
                   layer->dup.of.model != m ? ":" : "",
                   other->tensors[layer->dup.of.tensor].name);
        }
        printf("\n");
    }
    printf("\n");
}

/* Lists the tensors of one container. Returns 0, or 1 after printing the
 * error. */
static int print_container(const char *path)
{
    el_container c;
    el_error err;
    if (el_container_open(path, &c, &err) != 0) {
        fprintf(stderr, "elves inspect: %s\n", err.msg);
        return 1;
    }

    uint64_t original = 0, stored = 0;
    el_container_listing *rows = calloc(c.n_tensors + 1, sizeof *rows);
    int rc = rows != NULL ? 0 : el_fail(&err, "out of memory");
    for (size_t i = 0; rc == 0 && i < c.n_tensors; i++) {
        rc = el_container_list_tensor(&c, i, &rows[i], &err);
        original += rows[i].info.nbytes;
        stored += rows[i].stored;
    }
    if (rc != 0) {
        fprintf(stderr, "elves inspect: %s: %s\n", path, err.msg);
        free(rows);
        el_container_close(&c);
        return 1;
    }

    char a[32], b[32];
    printf("%s  (elves container, %zu model%s, %zu tensors, %s of tensors stored in %s, "
           "ratio %.3f)\n\n", path, c.n_models, c.n_models == 1 ? "" : "s", c.n_tensors,
           el_format_bytes(original, a, sizeof a), el_format_bytes(stored, b, sizeof b),
           stored ? (double)original / (double)stored : 0.0);
    printf("%-40s %-5s %-16s %10s %-10s %-14s %10s %7s %10s\n", "tensor", "dtype", "shape",
           "bytes", "codec", "bound", "stored", "ratio", "max error");
    for (size_t i = 0; i < c.n_tensors; i++) {
        const el_container_listing *r = &rows[i];
        printf("%-40s %-5s %-16s %10llu %-10s %-14s ", r->info.name,
               el_dtype_name(r->info.dtype), r->shape, (unsigned long long)r->info.nbytes,
               r->info.codec_name, r->bound);
        if (r->same_as >= 0)
            printf("%10s %7s %10.3g  copy of %s\n", "0", "-", r->info.max_error,
                   rows[r->same_as].info.name);
        else
            printf("%10llu %7.3f %10.3g\n", (unsigned long long)r->stored,
                   r->stored ? (double)r->info.nbytes / (double)r->stored : 0.0,
                   r->info.max_error);
    }
    printf("\n");
    free(rows);
    el_container_close(&c);
    return 0;
}

/* Lists the containers among the arguments when every one of them is a
 * container. Returns -1 when none is, so that the caller opens models. */
static int inspect_containers(int argc, char **argv, int json, int model_options)
{
    int containers = 0;
    for (int i = optind; i < argc; i++)
        containers += el_is_container_file(argv[i]);
    if (containers == 0)
        return -1;
    if (containers != argc - optind) {
        fprintf(stderr, "elves inspect: give models or .elves containers, not both\n");
        return 2;
    }
    if (model_options) {
        fprintf(stderr, "elves inspect: --bound, --base and --level apply to models, not to "
                "containers\n");
        return 2;
    }
    if (json) {
        el_error err;
        char *text = el_containers_json((const char *const *)argv + optind,
                                        (size_t)(argc - optind), &err);
        if (text == NULL) {
            fprintf(stderr, "elves inspect: %s\n", err.msg);
            return 1;
        }
        puts(text);
        free(text);
        return 0;
    }

    int rc = 0;
    for (int i = optind; i < argc; i++)
        rc |= print_container(argv[i]);
    return rc;
}

int el_cli_inspect(int argc, char **argv)
{
    static const struct option options[] = {
        { "json", no_argument, NULL, 'j' },
        { "level", required_argument, NULL, 'l' },
        { "bound", required_argument, NULL, 'b' },
        { "base", required_argument, NULL, 'B' },
        { "threads", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int json = 0, level = 3, threads = 0, model_options = 0, c;
    el_bound bound = { EL_BOUND_LOSSLESS, 0 };
    const char *base_path = NULL;
    el_error err;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hl:T:", options, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = 1;
            break;
        case 'l':
            model_options = 1;
            level = atoi(optarg);
            if (level < 1 || level > 19) {
                fprintf(stderr, "elves inspect: invalid --level \"%s\": use 1 to 19\n", optarg);
                return 2;
            }
            break;
        case 'b':
            model_options = 1;
            if (el_bound_parse(optarg, &bound, &err) != 0) {
                fprintf(stderr, "elves inspect: %s\n", err.msg);
                return 2;
            }
            break;
        case 'B':
            model_options = 1;
            base_path = optarg;
            break;
        case 'T':
            if (el_cli_parse_threads("inspect", optarg, &threads) != 0)
                return 2;
            break;
        case 'h':
            inspect_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Run `elves inspect --help` for the options.\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "elves inspect: no model given\n");
        fprintf(stderr, "Run `elves inspect --help` for the options.\n");
        return 2;
    }

    int listed = inspect_containers(argc, argv, json, model_options);
    if (listed >= 0)
        return listed;

    /* A base opens as the first model; every other model is paired with it. */
    size_t n_paths = (size_t)(argc - optind) + (base_path != NULL);
    const char **paths = calloc(n_paths, sizeof *paths);
    if (paths == NULL) {
        fprintf(stderr, "elves inspect: out of memory\n");
        return 1;
    }
    if (base_path != NULL)
        paths[0] = base_path;
    for (int i = optind; i < argc; i++)
        paths[(size_t)(i - optind) + (base_path != NULL)] = argv[i];

    el_workspace ws;
    int opened = el_workspace_open(&ws, paths, n_paths, &err);
    free(paths);
    if (opened != 0) {
        fprintf(stderr, "elves inspect: %s\n", err.msg);
        return 1;
    }
    ws.zstd_level = level;
    if (threads > 0)
        ws.threads = threads;
    int rc = el_workspace_analyse(&ws, el_cli_progress, NULL, &err);
    for (size_t m = 0; rc == 0 && bound.kind != EL_BOUND_LOSSLESS && m < ws.n_models; m++)
        for (size_t t = 0; rc == 0 && t < ws.models[m].n_tensors; t++)
            rc = el_layer_set_plan(&ws, m, t, bound, NULL, &err);
    if (rc == 0 && base_path != NULL)
        rc = el_workspace_set_base(&ws, 0, &err);
    el_cli_progress_done();
    if (rc != 0) {
        fprintf(stderr, "elves inspect: %s\n", err.msg);
        el_workspace_close(&ws);
        return 1;
    }

    if (json) {
        char *text = el_inspect_json(&ws, &err);
        if (text == NULL) {
            fprintf(stderr, "elves inspect: %s\n", err.msg);
            rc = 1;
        } else {
            puts(text);
            free(text);
        }
    } else {
        for (size_t m = 0; m < ws.n_models; m++)
            print_model(&ws, m);
    }
    el_workspace_close(&ws);
    return rc == 0 ? 0 : 1;
}
