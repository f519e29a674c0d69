package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tffs/tffs/sdk"
)

// CreateVolume makes a volume (tag and node optional) and prints where it
// lives.
func CreateVolume(ctx context.Context, loc *sdk.Location, out io.Writer, name, tag, node string) error {
	var opts []sdk.VolumeOption
	if tag != "" {
		opts = append(opts, sdk.VolumeTag(tag))
	}
	if node != "" {
		opts = append(opts, sdk.VolumeOnNode(node))
	}
	v, err := loc.CreateVolume(ctx, name, opts...)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s on %s\n", v.Name, v.Node)
	return nil
}

// ListVolumes prints the account's volumes as a table.
func ListVolumes(ctx context.Context, loc *sdk.Location, out io.Writer) error {
	list, err := loc.Volumes(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tTAG\tNODE\tSNAPSHOTS\tMOUNTED BY")
	for _, v := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", v.Name, orDash(v.Tag), v.Node, len(v.Snapshots), orDash(strings.Join(v.Mounts, ",")))
	}
	return w.Flush()
}

// VolumeInfo prints a volume's description (name or tag) as JSON.
func VolumeInfo(ctx context.Context, loc *sdk.Location, out io.Writer, name string) error {
	info, err := loc.VolumeByName(name).Info(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(info)
}

// MoveVolume moves a volume no container mounts to node and prints where
// it lives.
func MoveVolume(ctx context.Context, loc *sdk.Location, out io.Writer, name, node string) error {
	v := loc.VolumeByName(name)
	if err := v.Move(ctx, node); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s on %s\n", v.Name, v.Node)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
