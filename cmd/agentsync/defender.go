package main

import (
	"fmt"
	"log/slog"

	"github.com/agentsync/agentsync/extract"
)

// newDefenderLister builds the Defender API client from the settings,
// reading the client secret from DEFENDER_CLIENT_SECRET_FILE when given.
// Every error is a configuration error: it wraps extract.ErrConfig, and
// names the setting at fault, never the secret.
func newDefenderLister(s defenderSettings, logger *slog.Logger, obs extract.Observer) (*extract.Client, error) {
	secret := s.ClientSecret
	if s.ClientSecretFile != "" {
		if secret != "" {
			return nil, fmt.Errorf("%w: give DEFENDER_CLIENT_SECRET or DEFENDER_CLIENT_SECRET_FILE, not both", extract.ErrConfig)
		}
		var err error
		if secret, err = secretFromFile("DEFENDER_CLIENT_SECRET_FILE", s.ClientSecretFile); err != nil {
			return nil, fmt.Errorf("%w: %w", extract.ErrConfig, err)
		}
	}
	return extract.New(extract.Config{
		TenantID:        s.TenantID,
		ClientID:        s.ClientID,
		ClientSecret:    secret,
		CertificateFile: s.ClientCertificateFile,
		Cloud:           s.Cloud,
		Region:          s.Region,
		APIURL:          s.APIURL,
		TokenURL:        s.TokenURL,
		Scope:           s.Scope,
	}, extract.WithLogger(logger), extract.WithObserver(obs))
}
