//! Server-side cursors: batches left over from `find`/`aggregate`/`listCollections`/..., served
//! by `getMore`, and tailable change-stream cursors.
