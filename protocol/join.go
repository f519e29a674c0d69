package protocol

// OpJoin is the one request an invitation key may make (see `tffs account
// invite`): it admits the caller's new client key under the invited
// account name, after which the invitation is spent. JoinRequest → JoinReply.
const OpJoin = "account.join"

// JoinRequest presents the joining client's new public key.
type JoinRequest struct {
	PublicKey string `cbor:"1,keyasint"`
}

// JoinReply names the account the key now belongs to.
type JoinReply struct {
	Account string `cbor:"1,keyasint"`
}
