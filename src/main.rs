//! The `mbx` command: parse, run, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    limit_malloc_arenas();
    cli::main()
}

/// glibc gives each thread that allocates its own arena, and memory freed in one is not returned to the
/// others or to the system. Buffers filled on the runtime's and the file system's blocking threads would
/// then keep the process well above its memory budget. Two arenas are plenty for two busy runtime threads.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
