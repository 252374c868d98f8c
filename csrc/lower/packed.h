/* packed.h: packed sequences (torch.nn.utils.rnn), shared by packed.c and rnn.c; not a stage contract.
 *
 * Packed data is lowered as gather_nd(padded, non_zero(mask)): `padded` is the time-major
 * [T, B, ...] tensor the data was packed from (any values at padded steps), `mask` the bool
 * [T, B] of t < length[b]. Rows come out time step by time step, each step's sequences in batch
 * order, which is torch's packed order (lengths sorted in decreasing order). Consumers of packed
 * data (the RNN data overloads, _pad_packed_sequence) read `padded` and `mask` back from that op
 * pair instead of unpacking rows of a length known only at run time. */
#ifndef LOWER_PACKED_H
#define LOWER_PACKED_H

#include "lower/lower_int.h"

/* The padded tensor, mask and non_zero indices behind packed data `data`; fails naming the node
 * when data was not made by pack_padded_sequence or an RNN over packed data in this graph. */
int lower_packed_parts(lower_ctx *cx, ir_value *data, ir_value **padded, ir_value **mask, ir_value **nz);
/* Packed data of `padded` [T, B, ...] under the indices nz of a [T, B] mask: gather_nd. */
ir_value *lower_packed_data(lower_ctx *cx, ir_value *padded, ir_value *nz);

#endif
