//! meshscope viewer (to be built in its own issue).
