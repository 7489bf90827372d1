//! Compiles the v1 contracts with a vendored `protoc`, so a fresh machine needs
//! no system protobuf compiler.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs, not baked in when it is compiled: one
    // compiled script may serve two checkouts sharing a target directory.
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let files = [
        "keyholder/identity/v1/identity.proto",
        "keyholder/identity/v1/standing.proto",
        "keyholder/broker/v1/broker.proto",
        "keyholder/audit/v1/audit.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    let protos = files.map(|f| root.join(f));
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("keyholder_descriptor.bin"))
        .compile_with_config(config, &protos, std::slice::from_ref(&root))?;
    Ok(())
}
