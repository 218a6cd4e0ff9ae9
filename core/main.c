/* main.c — ipe-run: create the engine and hand argv to the Lua CLI. */
#include <stdio.h>
#include <lauxlib.h>
#include "ipe.h"

int main(int argc, char **argv)
{
    lua_State *L = ipe_engine_new();
    if (!L) {
        fputs("ipe-run: cannot create the Lua state (out of memory)\n", stderr);
        return 4;
    }
    int rc = ipe_engine_main(L, argc, argv);
    fflush(stdout);
    ipe_engine_close(L);
    return rc;
}
