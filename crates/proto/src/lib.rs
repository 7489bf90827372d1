//! Generated code for Keyholder's versioned gRPC contracts (`proto/`).

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// `keyholder.identity.v1`
pub mod identity {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("keyholder.identity.v1");
    }
}

/// `keyholder.broker.v1`
pub mod broker {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("keyholder.broker.v1");
    }
}

/// `keyholder.audit.v1`
pub mod audit {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("keyholder.audit.v1");
    }
}

/// Descriptor set of all three contracts, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("keyholder_descriptor");
