package io.qcow2.nbd;

/** The NBD protocol's numbers (NetworkBlockDevice/nbd doc/proto.md), in one place. */
final class Nbd {
  private Nbd() {}

  // Handshake
  static final long NBDMAGIC = 0x4e42444d41474943L;
  static final long IHAVEOPT = 0x49484156454F5054L;
  static final long REPLY_MAGIC = 0x3e889045565a9L;
  static final int FLAG_FIXED_NEWSTYLE = 1;
  static final int FLAG_NO_ZEROES = 2;
  static final int CLIENT_FLAGS_KNOWN = FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES;

  static final int OPT_EXPORT_NAME = 1;
  static final int OPT_ABORT = 2;
  static final int OPT_LIST = 3;
  static final int OPT_INFO = 6;
  static final int OPT_GO = 7;
  static final int OPT_STRUCTURED_REPLY = 8;
  static final int OPT_LIST_META_CONTEXT = 9;
  static final int OPT_SET_META_CONTEXT = 10;

  static final int REP_ACK = 1;
  static final int REP_SERVER = 2;
  static final int REP_INFO = 3;
  static final int REP_META_CONTEXT = 4;
  static final int REP_ERR_UNSUP = 0x8000_0001;
  static final int REP_ERR_INVALID = 0x8000_0003;
  static final int REP_ERR_UNKNOWN = 0x8000_0006;

  static final int INFO_EXPORT = 0;
  static final int INFO_NAME = 1;
  static final int INFO_BLOCK_SIZE = 3;

  /** Longest export name accepted (the spec's and QEMU's NBD_MAX_STRING_SIZE). */
  static final int MAX_STRING = 4096;

  // Transmission flags
  static final int TF_HAS_FLAGS = 1;
  static final int TF_READ_ONLY = 1 << 1;
  static final int TF_SEND_FLUSH = 1 << 2;
  static final int TF_SEND_FUA = 1 << 3;
  static final int TF_SEND_TRIM = 1 << 5;
  static final int TF_SEND_WRITE_ZEROES = 1 << 6;
  static final int TF_CAN_MULTI_CONN = 1 << 8;

  // Requests and simple replies
  static final int REQUEST_MAGIC = 0x25609513;
  static final int SIMPLE_REPLY_MAGIC = 0x67446698;
  static final int REQUEST_HEADER = 28;
  static final int SIMPLE_REPLY_HEADER = 16;

  static final int CMD_READ = 0;
  static final int CMD_WRITE = 1;
  static final int CMD_DISC = 2;
  static final int CMD_FLUSH = 3;
  static final int CMD_TRIM = 4;
  static final int CMD_WRITE_ZEROES = 6;
  static final int CMD_BLOCK_STATUS = 7;

  static final int CMD_FLAG_FUA = 1;
  static final int CMD_FLAG_NO_HOLE = 1 << 1;
  static final int CMD_FLAG_DF = 1 << 2;
  static final int CMD_FLAG_REQ_ONE = 1 << 3;

  // Structured replies (negotiated with NBD_OPT_STRUCTURED_REPLY)
  static final int STRUCTURED_REPLY_MAGIC = 0x668e33ef;
  static final int REPLY_FLAG_DONE = 1;
  static final int REPLY_TYPE_OFFSET_DATA = 1;
  static final int REPLY_TYPE_BLOCK_STATUS = 5;
  static final int REPLY_TYPE_ERROR = (1 << 15) + 1;

  /** The one metadata context served, and the id it gets. */
  static final String BASE_ALLOCATION = "base:allocation";
  static final int BASE_ALLOCATION_ID = 1;
  static final int STATE_HOLE = 1;
  static final int STATE_ZERO = 2;

  /** Largest READ or WRITE payload served (QEMU's NBD_MAX_BUFFER_SIZE); larger ones are refused. */
  static final int MAX_PAYLOAD = 32 << 20;

  // Error values on the wire (not the host's errno)
  static final int EPERM = 1;
  static final int EIO = 5;
  static final int EINVAL = 22;
}
