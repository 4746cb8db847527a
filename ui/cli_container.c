/* `elves compress`, `restore` and `verify`. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/container.h"
#include "../core/container_read.h"
#include "../core/plan.h"
#include "../core/workspace.h"
#include "cli.h"

static void compress_usage(FILE *out)
{
    fputs("Usage: elves compress MODEL... -o OUT.elves [--bound B] [--codec C] [--policy P]\n"
          "                      [--plan FILE] [--save-plan FILE] [--base BASE] [--level N]\n"
          "                      [-T N] [--chunk-kib N] [--memory MIB]\n"
          "\n"
          "Writes MODEL into an .elves container. Several models (fine-tunes of one\n"
          "base, copies) go into one container that stores every tensor they share\n"
          "once; `elves restore --model NAME` gets one back.\n"
          "\n"
          "Every layer is decoded and measured before the file is finished: an auto\n"
          "layer that misses its bound takes the next codec that meets it; if a fixed\n"
          "codec misses, nothing is written.\n"
          "The input is never modified.\n"
          "\n"
          "  -o, --output FILE  container to write (replaced atomically)\n"
          "  --bound B          error allowed on every layer: lossless (default),\n"
          "                     abs:E (largest absolute error per element) or rel:R\n"
          "                     (R times the layer's max - min)\n"
          "  --codec C          auto (default: per layer, the smallest codec that\n"
          "                     honours the bound) or a codec below; layers it\n"
          "                     cannot take fall back to auto\n",
          out);
    fputs(          "  --policy P         how auto picks: auto (smallest codec) or elves-paper\n"
          "                     (the framework of Su et al., VLDB 2024: the smallest\n"
          "                     of zstd, de and elf)\n"
          "  --plan FILE        bounds and codecs per layer from a JSON plan file\n"
          "                     (default, rules by name glob, per-layer overrides)\n"
          "  --save-plan FILE   write the plan used, with each layer's codec, to FILE\n"
          "  --base BASE        store each layer of MODEL as a delta against the same\n"
          "                     layer of BASE where that is smaller (a fine-tune and\n"
          "                     its base); restore then needs the same BASE\n"
          "  --level N          zstd level of every zstd stage, 1-19 (default 3)\n"
          "  -T, --threads N    encode N chunks at a time (default: every core); the\n"
          "                     output is the same for every N\n"
          "  --chunk-kib N      source KiB per independently decodable chunk\n"
          "                     (default 4096)\n"
          "  --memory MIB       memory the export may hold at once (default 512);\n"
          "                     fewer threads, then smaller chunks, keep within it\n"
          "  -h, --help         show this help\n"
          "\n"
          "Codecs:\n", out);
    for (size_t i = 0; el_codecs[i] != NULL; i++)
        fprintf(out, "  %-10s %s\n", el_codecs[i]->name, el_codecs[i]->summary);
}

/* Applies one bound and codec to every layer. A layer the fixed codec cannot
 * take keeps auto: the count of such layers is returned in *fallbacks and
 * the reason the first of them gave in *first_reason. */
static int apply_plan(el_workspace *ws, el_bound bound, const el_codec *codec,
                      size_t *fallbacks, el_error *first_reason, el_error *err)
{
    *fallbacks = 0;
    for (size_t m = 0; m < ws->n_models; m++) {
        for (size_t t = 0; t < ws->models[m].n_tensors; t++) {
            el_error reason;
            if (codec != NULL && el_layer_set_plan(ws, m, t, bound, codec, &reason) == 0)
                continue;
            if (codec != NULL && (*fallbacks)++ == 0)
                *first_reason = reason;
            if (el_layer_set_plan(ws, m, t, bound, NULL, err) != 0)
                return -1;
        }
    }
    return 0;
}

/* Exports the workspace's models from `first` on into one container. */
static int export_all(const el_workspace *ws, size_t first, const char *out_path,
                      el_export_report *report, el_error *err)
{
    size_t *models = malloc(ws->n_models * sizeof *models);
    if (models == NULL)
        return el_fail(err, "out of memory");
    for (size_t m = first; m < ws->n_models; m++)
        models[m - first] = m;
    int rc = el_export_models(ws, models, ws->n_models - first, out_path, el_cli_progress,
                              NULL, report, err);
    free(models);
    return rc;
}

static void print_report(const el_export_report *r, const char *out_path)
{
    char orig[32], stored[32], predicted[32];
    double worst = 0, worst_rel_l2 = 0, worst_psnr = INFINITY;
    size_t changed = 0;
    for (size_t i = 0; i < r->n_layers; i++) {
        const el_error_stats *e = &r->layers[i].error;
        if (r->layers[i].exact)
            continue;
        changed++;
        worst = e->max_abs > worst ? e->max_abs : worst;
        worst_rel_l2 = e->rel_l2 > worst_rel_l2 ? e->rel_l2 : worst_rel_l2;
        worst_psnr = e->psnr < worst_psnr ? e->psnr : worst_psnr;
    }
    printf("%s: %s -> %s (ratio %.3f; predicted %s for the tensors)\n", out_path,
           el_format_bytes(r->original, orig, sizeof orig),
           el_format_bytes(r->stored, stored, sizeof stored),
           r->stored ? (double)r->original / (double)r->stored : 0.0,
           el_format_bytes(r->predicted, predicted, sizeof predicted));
    if (changed)
        printf("%zu of %zu layers changed within their bounds: max abs error %g, max "
               "relative L2 %.3g, min PSNR %.1f dB\n", changed, r->n_layers, worst,
               worst_rel_l2, worst_psnr);
    else
        printf("every layer restores exactly\n");
}

int el_cli_compress(int argc, char **argv)
{
    static const struct option options[] = {
        { "output", required_argument, NULL, 'o' },
        { "bound", required_argument, NULL, 'b' },
        { "codec", required_argument, NULL, 'c' },
        { "level", required_argument, NULL, 'l' },
        { "threads", required_argument, NULL, 'T' },
        { "chunk-kib", required_argument, NULL, 'K' },
        { "memory", required_argument, NULL, 'M' },
        { "policy", required_argument, NULL, 'p' },
        { "plan", required_argument, NULL, 'P' },
        { "base", required_argument, NULL, 'B' },
        { "save-plan", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    el_policy policy = EL_POLICY_AUTO;
    int policy_given = 0, bound_given = 0;
    const char *out_path = NULL, *plan_path = NULL, *save_path = NULL, *base_path = NULL;
    el_bound bound = { EL_BOUND_LOSSLESS, 0 };
    const el_codec *codec = NULL;
    int level = 3, threads = el_cli_default_threads(), c;
    long chunk_kib = 0, memory_mib = 0;
    el_error err;

    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:b:c:l:p:T:", options, NULL)) != -1) {
        switch (c) {
        case 'o':
            out_path = optarg;
            break;
        case 'b':
            if (el_bound_parse(optarg, &bound, &err) != 0) {
                fprintf(stderr, "elves compress: %s\n", err.msg);
                return 2;
            }
            bound_given = 1;
            break;
        case 'c':
            codec = strcmp(optarg, "auto") == 0 ? NULL : el_codec_find(optarg);
            if (codec == NULL && strcmp(optarg, "auto") != 0) {
                fprintf(stderr, "elves compress: unknown codec \"%s\"; run "
                        "`elves compress --help` for the list\n", optarg);
                return 2;
            }
            break;
        case 'l':
            level = atoi(optarg);
            if (level < 1 || level > 19) {
                fprintf(stderr, "elves compress: invalid --level \"%s\": use 1 to 19\n", optarg);
                return 2;
            }
            break;
        case 'p':
            if (el_policy_parse(optarg, &policy, &err) != 0) {
                fprintf(stderr, "elves compress: %s\n", err.msg);
                return 2;
            }
            policy_given = 1;
            break;
        case 'P':
            plan_path = optarg;
            break;
        case 'T':
            if (el_cli_parse_threads("compress", optarg, &threads) != 0)
                return 2;
            break;
        case 'M':
            memory_mib = atol(optarg);
            if (memory_mib < 32 || memory_mib > 1024 * 1024) {
                fprintf(stderr, "elves compress: invalid --memory \"%s\": use 32 to "
                        "1048576 (MiB)\n", optarg);
                return 2;
            }
            break;
        case 'K':
            chunk_kib = atol(optarg);
            if (chunk_kib < 1 || chunk_kib > 1024 * 1024) {
                fprintf(stderr, "elves compress: invalid --chunk-kib \"%s\": use 1 to "
                        "1048576 (KiB)\n", optarg);
                return 2;
            }
            break;
        case 'S':
            save_path = optarg;
            break;
        case 'B':
            base_path = optarg;
            break;
        case 'h':
            compress_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Run `elves compress --help` for the options.\n");
            return 2;
        }
    }
    if (optind >= argc || out_path == NULL) {
        fprintf(stderr, "elves compress: give at least one MODEL and -o OUT.elves\n");
        fprintf(stderr, "Run `elves compress --help` for the options.\n");
        return 2;
    }
    if (plan_path != NULL && (bound_given || codec != NULL)) {
        fprintf(stderr, "elves compress: --plan sets every layer's bound and codec; "
                "drop --bound and --codec, or put them in the plan's \"default\"\n");
        return 2;
    }

    size_t n_models = (size_t)(argc - optind);
    if (n_models > 1 && (plan_path != NULL || save_path != NULL)) {
        fprintf(stderr, "elves compress: --plan and --save-plan take one model; compress "
                "a family with --bound, --codec and --policy\n");
        return 2;
    }

    if (el_check_output_file(out_path, &err) != 0) {
        fprintf(stderr, "elves compress: %s\n", err.msg);
        return 1;
    }

    /* With a base, the workspace opens it first and exports only the rest. */
    const char **paths = calloc(n_models + 1, sizeof *paths);
    if (paths == NULL) {
        fprintf(stderr, "elves compress: out of memory\n");
        return 1;
    }
    size_t n_paths = 0;
    if (base_path != NULL)
        paths[n_paths++] = base_path;
    for (int i = optind; i < argc; i++)
        paths[n_paths++] = argv[i];

    el_workspace ws;
    int opened = el_workspace_open(&ws, paths, n_paths, &err);
    free(paths);
    if (opened != 0) {
        fprintf(stderr, "elves compress: %s\n", err.msg);
        return 1;
    }
    ws.zstd_level = level;
    ws.policy = policy;
    ws.threads = threads;
    ws.chunk_bytes = (size_t)chunk_kib * 1024;
    ws.memory_budget = (size_t)memory_mib << 20;

    size_t fallbacks = 0;
    el_error first_reason = { { 0 } };
    el_export_report report;
    memset(&report, 0, sizeof report);
    if (plan_path == NULL)
        el_workspace_preset_bound(&ws, bound);
    int rc = el_workspace_analyse(&ws, el_cli_progress, NULL, &err);
    size_t first = base_path != NULL ? 1 : 0;
    if (rc == 0 && plan_path != NULL)
        rc = el_plan_load(&ws, first, plan_path, &err);
    else if (rc == 0)
        rc = apply_plan(&ws, bound, codec, &fallbacks, &first_reason, &err);
    if (rc == 0 && policy_given)
        el_workspace_set_policy(&ws, policy);
    if (rc == 0 && base_path != NULL)
        rc = el_workspace_set_base(&ws, 0, &err);
    if (rc == 0 && save_path != NULL)
        rc = el_plan_save(&ws, first, save_path, &err);
    if (rc == 0)
        rc = export_all(&ws, first, out_path, &report, &err);
    el_cli_progress_done();

    if (rc == 0) {
        if (fallbacks)
            fprintf(stderr, "elves compress: %zu layer%s could not use %s and took auto; "
                    "the first: %s\n", fallbacks, fallbacks == 1 ? "" : "s", codec->name,
                    first_reason.msg);
        print_report(&report, out_path);
    } else {
        fprintf(stderr, "elves compress: %s\n", err.msg);
    }
    el_export_report_free(&report);
    el_workspace_close(&ws);
    return rc == 0 ? 0 : 1;
}

/* Parses "IN -o OUT" style arguments shared by restore; returns 0, or the
 * exit status to return. */
static int restore_usage(FILE *out)
{
    fputs("Usage: elves restore IN.elves -o OUT [--model NAME] [--base BASE]\n"
          "                     [--to source|safetensors] [--tensor NAME] [-T N]\n"
          "\n"
          "Writes the model stored in IN.elves back in its source format. OUT is the\n"
          "file to write for a single-file model, or a folder for a sharded one.\n"
          "Every checksum is verified; layers compressed losslessly come back byte\n"
          "for byte, and a model compressed losslessly is identical to the original.\n"
          "\n"
          "  -o, --output PATH  file or folder to write (files replaced atomically)\n"
          "  --base BASE        the base model the container was compressed against\n"
          "                     (needed when it holds deltas; checked by checksum)\n"
          "  --model NAME       restore only this model of a family container (NAME is\n"
          "                     the file or folder name it was compressed from); by\n"
          "                     default every model, into OUT as a folder when several\n"
          "  --tensor NAME      write only this tensor, as a one-tensor safetensors\n"
          "                     file, decoding none of the others\n"
          "  --to FORMAT        source (default): the format the model came in;\n"
          "                     safetensors: one .safetensors file with every tensor\n"
          "  -T, --threads N    decode N chunks at a time (default: every core); the\n"
          "                     output is the same for any N\n"
          "  -h, --help         show this help\n", out);
    return 0;
}

int el_cli_restore(int argc, char **argv)
{
    static const struct option options[] = {
        { "output", required_argument, NULL, 'o' },
        { "to", required_argument, NULL, 't' },
        { "model", required_argument, NULL, 'm' },
        { "base", required_argument, NULL, 'B' },
        { "tensor", required_argument, NULL, 'n' },
        { "threads", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *out_path = NULL, *model_name = NULL, *base_path = NULL, *tensor = NULL;
    int to_safetensors = 0, threads = el_cli_default_threads();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:T:", options, NULL)) != -1) {
        if (c == 'T') {
            if (el_cli_parse_threads("restore", optarg, &threads) != 0)
                return 2;
        } else if (c == 'o') {
            out_path = optarg;
        } else if (c == 'm') {
            model_name = optarg;
        } else if (c == 'B') {
            base_path = optarg;
        } else if (c == 'n') {
            tensor = optarg;
        } else if (c == 't' && (strcmp(optarg, "source") == 0
                                || strcmp(optarg, "safetensors") == 0)) {
            to_safetensors = strcmp(optarg, "safetensors") == 0;
        } else if (c == 't') {
            fprintf(stderr, "elves restore: invalid --to \"%s\": use source or safetensors\n",
                    optarg);
            return 2;
        } else if (c == 'h') {
            return restore_usage(stdout);
        } else {
            fprintf(stderr, "Run `elves restore --help` for the options.\n");
            return 2;
        }
    }
    if (optind != argc - 1 || out_path == NULL) {
        fprintf(stderr, "elves restore: give exactly one IN.elves and -o OUT\n");
        fprintf(stderr, "Run `elves restore --help` for the options.\n");
        return 2;
    }
    el_container_set_threads(threads);

    el_error err;
    el_model base;
    memset(&base, 0, sizeof base);
    if (base_path != NULL && el_model_open(base_path, &base, &err) != 0) {
        fprintf(stderr, "elves restore: %s\n", err.msg);
        return 1;
    }
    const el_model *with = base_path != NULL ? &base : NULL;
    int rc;
    if (tensor != NULL)
        rc = el_restore_tensor(argv[optind], tensor, out_path, with, &err);
    else if (to_safetensors)
        rc = el_restore_safetensors(argv[optind], out_path, model_name, with, el_cli_progress,
                                    NULL, &err);
    else
        rc = el_restore_model(argv[optind], out_path, model_name, with, el_cli_progress, NULL,
                              &err);
    el_model_close(&base);
    el_cli_progress_done();
    if (rc != 0) {
        fprintf(stderr, "elves restore: %s\n", err.msg);
        return 1;
    }
    if (tensor != NULL)
        printf("%s: tensor \"%s\" restored from %s, its checksums verified\n", out_path,
               tensor, argv[optind]);
    else
        printf("%s: restored from %s, every checksum verified\n", out_path, argv[optind]);
    return 0;
}

static void verify_usage(FILE *out)
{
    fputs("Usage: elves verify IN.elves [MODEL] [--base BASE] [-T N]\n"
          "\n"
          "Decodes every tensor of IN.elves and checks every checksum and every\n"
          "recorded error against its bound. With MODEL, also compares each tensor\n"
          "with the model's tensor of the same name: lossless layers must be equal\n"
          "byte for byte, lossy ones within their bound. --base gives the base model\n"
          "of a container that holds deltas.\n"
          "\n"
          "  -T, --threads N  decode N chunks at a time (default: every core)\n"
          "  -h, --help       show this help\n", out);
}

int el_cli_verify(int argc, char **argv)
{
    static const struct option options[] = {
        { "base", required_argument, NULL, 'B' },
        { "threads", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *base_path = NULL;
    int threads = el_cli_default_threads();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hT:", options, NULL)) != -1) {
        if (c == 'h') {
            verify_usage(stdout);
            return 0;
        }
        if (c == 'T') {
            if (el_cli_parse_threads("verify", optarg, &threads) != 0)
                return 2;
            continue;
        }
        if (c == 'B') {
            base_path = optarg;
            continue;
        }
        fprintf(stderr, "Run `elves verify --help` for the options.\n");
        return 2;
    }
    int positional = argc - optind;
    if (positional < 1 || positional > 2) {
        fprintf(stderr, "elves verify: give IN.elves and optionally the MODEL to compare\n");
        fprintf(stderr, "Run `elves verify --help` for the options.\n");
        return 2;
    }
    el_container_set_threads(threads);

    el_error err;
    el_model model;
    memset(&model, 0, sizeof model);
    if (positional == 2 && el_model_open(argv[optind + 1], &model, &err) != 0) {
        fprintf(stderr, "elves verify: %s\n", err.msg);
        return 1;
    }

    el_model base;
    memset(&base, 0, sizeof base);
    if (base_path != NULL && el_model_open(base_path, &base, &err) != 0) {
        fprintf(stderr, "elves verify: %s\n", err.msg);
        el_model_close(&model);
        return 1;
    }

    el_verify_report report;
    int rc = el_verify(argv[optind], positional == 2 ? &model : NULL,
                       base_path != NULL ? &base : NULL, el_cli_progress, NULL, &report, &err);
    el_cli_progress_done();
    el_model_close(&model);
    el_model_close(&base);
    if (rc != 0) {
        fprintf(stderr, "elves verify: %s\n", err.msg);
        return 1;
    }

    printf("%s: OK, %zu tensors: %zu exact, %zu changed within %s bound%s",
           argv[optind], report.tensors, report.lossless_exact, report.lossy_within,
           report.lossy_within == 1 ? "its" : "their", report.lossy_within == 1 ? "" : "s");
    if (report.lossy_within)
        printf(" (max error %g)", report.worst_error);
    if (positional == 2)
        printf("; %zu compared with %s", report.compared, argv[optind + 1]);
    printf("\n");
    return 0;
}
