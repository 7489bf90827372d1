//! Rights and the powers reserved to employee administrators, as pure rules
//! that identity (roles, `Authorize`) and the broker (support-access scopes)
//! both apply, so the two can never drift apart.
//!
//! - [`right`]: the `entity:action` grammar, its length limits and matching.
//! - [`capability`]: the admin-only powers, who holds them, and the one table
//!   of rights that exercise each.
//! - [`delegates`]: what integrators and support agents — people from outside
//!   the tenant acting for it — may never be authorized for.

#![forbid(unsafe_code)]

pub mod capability;
pub mod delegates;
pub mod input;
pub mod right;
pub mod scopes;

pub use capability::{Capability, Standing};
pub use delegates::{Reserved, delegate_may, delegate_may_hand_out, delegate_may_hold};
pub use input::InputError;
pub use right::{Right, RightError};
