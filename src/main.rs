//! The `mbx` command: parse, run, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_buffers();
    cli::main()
}

/// Keeps the memory of freed part buffers in the process for the next parts, instead of handing it back to
/// the kernel at once. glibc returns a freed 8 MiB buffer to the kernel (unmapped, or trimmed from the top of
/// its heap), so every part's buffer was faulted in and zeroed again; on a VM that returns freed memory to its
/// host, each page then also faulted in the host. A local copy of 2.6 GiB in 8 MiB parts took 83,000 to
/// 107,000 page faults that way and 33,000 to 35,000 with the buffers kept. Peak memory is unchanged: what is
/// kept is what the memory budget already allowed.
fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // Buffers up to 32 MiB (glibc's ceiling) come from the heap, and up to 1 GiB of freed heap stays.
        // SAFETY: mallopt only changes the allocator's parameters, before any thread starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}
