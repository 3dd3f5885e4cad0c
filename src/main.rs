//! The `mbx` command: parse, run, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_buffers();
    allow_open_files();
    cli::main()
}

/// Raises the limit on open files to the most the system allows this process, as Go's runtime does for every
/// program: over a long link each remote may hold up to 256 connections, and a local side holds files
/// besides, which a soft limit of 1,024 (a common default) would not always fit.
fn allow_open_files() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write only the struct given, before any thread starts.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                // Refused (a hard limit above what the kernel takes): the soft limit stays as it was.
                let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            }
        }
    }
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
