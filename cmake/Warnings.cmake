# The project's warning set (STYLE.md §15). Applied to every target we own
# through osh_warnings; third-party headers come in as SYSTEM includes.
add_library(osh_warnings INTERFACE)
target_compile_options(osh_warnings INTERFACE
  -Wall -Wextra -Werror
  -Wshadow -Wmissing-prototypes -Wmissing-declarations -Wstrict-prototypes
  -Wswitch-enum -Wformat=2 -Wformat-security -Wpointer-arith -Wcast-qual
  -Wsign-compare -Wundef -Wvla -Wnull-dereference -Wimplicit-fallthrough
  -Werror=implicit-function-declaration)
target_compile_definitions(osh_warnings INTERFACE _GNU_SOURCE)
