package protocol

// OpImageRemove forgets one of the account's images: ImageRemoveRequest →
// {}. Layers no other image references are removed from the master;
// running containers are not affected.
const OpImageRemove = "image.remove"

// ImageRemoveRequest names the image ("name" means "name:latest").
type ImageRemoveRequest struct {
	Name string `cbor:"1,keyasint"`
}
