/* elves: command-line entry point. Without a command it opens the terminal
 * application on the models given; with one it runs that batch command. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/container_format.h"
#include "../core/workspace.h"
#include "cli.h"
#include "tui.h"

#define ELVES_VERSION "0.1.0"

static void usage(FILE *out)
{
    fputs("Usage: elves MODEL...                 explore models in the terminal application\n"
          "       elves inspect MODEL... [--json] print statistics and predicted ratios\n"
          "       elves inspect IN.elves...       list a container's tensors\n"
          "       elves compress MODEL -o OUT.elves [--bound B] [--codec C] [--level N]\n"
          "       elves restore IN.elves -o OUT   write the model back (alias: decompress)\n"
          "       elves verify IN.elves [MODEL]   check every checksum and bound\n"
          "\n"
          "MODEL is a .safetensors file, a model.safetensors.index.json or a folder\n"
          "holding either, a GGUF file, a PyTorch checkpoint (.bin, .pt, .pth), an\n"
          "ONNX model, or an .npy or .npz file. Run `elves COMMAND --help` for a\n"
          "command's options.\n"
          "\n"
          "Options:\n"
          "  -h, --help     show this help\n"
          "  -V, --version  show the version\n", out);
}

static int open_tui(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-') {
            fprintf(stderr, "elves: unknown option \"%s\"; run `elves --help`\n", argv[i]);
            return 2;
        }
    }

    /* A word that is not a file is more likely a mistyped command. */
    if (access(argv[0], F_OK) != 0 && strchr(argv[0], '/') == NULL
        && strchr(argv[0], '.') == NULL) {
        fprintf(stderr, "elves: \"%s\" is neither a command nor a file; the commands are "
                "inspect, compress, restore and verify (run `elves --help`)\n", argv[0]);
        return 2;
    }

    el_workspace ws;
    el_error err;
    if (el_workspace_open(&ws, (const char *const *)argv, (size_t)argc, &err) != 0) {
        fprintf(stderr, "elves: %s\n", err.msg);
        return 1;
    }

    /* The application starts at once and fills in as layers are analysed;
     * exact predictions then replace the estimates of large layers. */
    ws.refine = 1;
    int rc = el_workspace_analyse_start(&ws, &err);
    if (rc == 0)
        rc = el_tui_run(&ws, &err);
    if (rc != 0)
        fprintf(stderr, "elves: %s\n", err.msg);
    el_workspace_close(&ws);
    return rc == 0 ? 0 : 1;
}

/* An interrupted compress or restore removes its temporary file, then dies
 * of the same signal so the caller sees how it ended. */
static void remove_temp_and_die(int sig)
{
    el_remove_temp_files();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void clean_up_on_signals(void)
{
    static const int signals[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        signal(signals[i], remove_temp_and_die);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }

    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("elves %s\n", ELVES_VERSION);
        return 0;
    }

    /* The terminal application leaves signals to ncurses, which restores
     * the terminal; the batch commands clean up their temporary files. */
    int batch = strcmp(cmd, "inspect") == 0 || strcmp(cmd, "compress") == 0
        || strcmp(cmd, "restore") == 0 || strcmp(cmd, "decompress") == 0
        || strcmp(cmd, "verify") == 0;
    if (batch)
        clean_up_on_signals();

    /* getopt prefixes its messages with argv[0], so "elves compress: ..."
     * names the program and the command that failed. */
    static char command_name[64];
    if (batch) {
        snprintf(command_name, sizeof command_name, "elves %s", cmd);
        argv[1] = command_name;
    }

    if (strcmp(cmd, "inspect") == 0)
        return el_cli_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "compress") == 0)
        return el_cli_compress(argc - 1, argv + 1);
    if (strcmp(cmd, "restore") == 0 || strcmp(cmd, "decompress") == 0)
        return el_cli_restore(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0)
        return el_cli_verify(argc - 1, argv + 1);
    return open_tui(argc - 1, argv + 1);
}
