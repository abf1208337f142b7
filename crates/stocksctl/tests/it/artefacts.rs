//! The Lambda zips as `make build` leaves them, for either architecture: each holds one
//! executable `bootstrap`, an ELF for the architecture Terraform deploys it as, linked against
//! a glibc that Lambda's `provided.al2023` runtime has, and small enough to start fast.
//!
//! Ignored by default because it needs the zips: `make test` builds the deployed default (arm64)
//! and runs it (`STOCKS_LAMBDA_DIR`, `STOCKS_LAMBDA_ARCH` = `arm64` | `x86_64`; `make
//! test-lambdas ARCH=x86_64` checks the other).

use std::io::Read;
use std::path::PathBuf;

use object::elf::{EM_AARCH64, EM_X86_64, ET_DYN, ET_EXEC, FileHeader64};
use object::read::elf::FileHeader;
use object::{Endianness, LittleEndian};

use crate::FUNCTIONS;

/// The zip goal the README states (and `make bench` reports).
const MAX_ZIP_BYTES: u64 = 6 * 1024 * 1024;
/// provided.al2023 ships glibc 2.34: a binary needing a newer symbol version does not start.
const AL2023_GLIBC: (u32, u32) = (2, 34);

/// The highest `GLIBC_x.y` version the binary needs, from its `.gnu.version_r` section.
fn newest_glibc(data: &[u8]) -> Option<(u32, u32)> {
    let header = FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, data).ok()?;
    let (mut needs, link) = sections.gnu_verneed(endian, data).ok()??;
    let strings = sections.strings(endian, data, link).ok()?;
    let mut newest = None;
    while let Some((_, mut auxes)) = needs.next().ok()? {
        while let Some(aux) = auxes.next().ok()? {
            let name = String::from_utf8_lossy(aux.name(endian, strings).ok()?).into_owned();
            if let Some(version) = name.strip_prefix("GLIBC_") {
                let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
                let v = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
                newest = newest.max(Some(v));
            }
        }
    }
    newest
}

#[test]
#[ignore = "needs the Lambda zips: `make test` builds them and runs this"]
fn each_zip_holds_one_small_bootstrap_for_the_architecture() {
    let dir = PathBuf::from(std::env::var_os("STOCKS_LAMBDA_DIR").expect("STOCKS_LAMBDA_DIR: run `make test`"));
    let arch = std::env::var("STOCKS_LAMBDA_ARCH").expect("STOCKS_LAMBDA_ARCH: arm64 or x86_64");
    let machine = match arch.as_str() {
        "arm64" => EM_AARCH64,
        "x86_64" => EM_X86_64,
        other => panic!("STOCKS_LAMBDA_ARCH={other}: arm64 or x86_64"),
    };
    for function in FUNCTIONS {
        let path = dir.join(function).join("bootstrap.zip");
        let size = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; `make build ARCH={arch}` makes it", path.display()))
            .len();
        assert!(size < MAX_ZIP_BYTES, "{function}: {size} bytes, over the 6 MiB goal");

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let names: Vec<String> = zip
            .file_names()
            .map(|n| n.map(|n| n.into_owned()))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(names, ["bootstrap"], "{function}: one file");
        let mut entry = zip.by_name("bootstrap").unwrap();
        let mode = entry.unix_mode().unwrap_or(0);
        assert_ne!(
            mode & 0o111,
            0,
            "{function}: bootstrap is not executable (mode {mode:o})"
        );
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();

        let header = FileHeader64::<LittleEndian>::parse(data.as_slice())
            .unwrap_or_else(|e| panic!("{function}: not a 64-bit little-endian ELF: {e}"));
        assert_eq!(
            header.e_machine(LittleEndian),
            machine,
            "{function}: built for another machine than {arch}"
        );
        assert!(
            [ET_EXEC, ET_DYN].contains(&header.e_type(LittleEndian)),
            "{function}: not an executable"
        );
        let glibc = newest_glibc(&data).unwrap_or((0, 0));
        assert!(
            glibc <= AL2023_GLIBC,
            "{function}: needs GLIBC_{}.{}, newer than provided.al2023's",
            glibc.0,
            glibc.1
        );
        println!(
            "{function}: {arch} ELF, zip {:.2} MiB, newest glibc symbol {}.{}",
            size as f64 / 1_048_576.0,
            glibc.0,
            glibc.1
        );
    }
}
