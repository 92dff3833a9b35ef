//! Rate measurement and limiting on injected time.
// OWNER: lead. Stub until the engine lands.
